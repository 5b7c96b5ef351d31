/**
 * Validation of origins added through the API, the CLI or a config file. An
 * origin is replicated to every node, so a bad one would be rejected (or
 * worse, crash a checker) everywhere: it is refused at the door with an
 * error naming the field.
 */
import type { Decoded, DecodeError } from "./health-record.ts";
import type { OriginSpec } from "./types.ts";

/** Allowed origin ids: safe in URLs, store keys and Prometheus labels. */
export const ORIGIN_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

const STATUS_RANGE = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/;

function fail(field: string, message: string): DecodeError {
  return { ok: false, field, message: `${field}: ${message}` };
}

function positiveInt(value: unknown, field: string, max: number): Decoded<number> {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    return fail(field, `must be an integer between 1 and ${max}`);
  }
  return { ok: true, value };
}

/**
 * Checks an untrusted origin object (a POST body, a config entry). Unknown
 * fields are refused too: a typo such as `intervalMS` silently ignored
 * would leave the user believing a setting applies.
 */
export function decodeOriginSpec(input: unknown, path = "origin"): Decoded<OriginSpec> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return fail(path, "must be a JSON object");
  const o = input as Record<string, unknown>;
  const known = new Set(["id", "url", "intervalMs", "timeoutMs", "method", "expectStatus", "expectBody", "rise", "fall"]);
  for (const key of Object.keys(o)) {
    if (!known.has(key)) return fail(`${path}.${key}`, `unknown field (known: ${[...known].join(", ")})`);
  }
  if (typeof o.id !== "string" || !ORIGIN_ID_PATTERN.test(o.id)) {
    return fail(`${path}.id`, "must be 1-128 characters of A-Z a-z 0-9 . _ : -");
  }
  if (typeof o.url !== "string") return fail(`${path}.url`, "must be a string");
  let parsed: URL;
  try {
    parsed = new URL(o.url);
  } catch {
    return fail(`${path}.url`, `not a valid URL: ${JSON.stringify(o.url)}`);
  }
  if (!["http:", "https:", "tcp:"].includes(parsed.protocol)) return fail(`${path}.url`, "scheme must be http, https or tcp");
  if (parsed.protocol === "tcp:" && parsed.port === "") return fail(`${path}.url`, "tcp:// URLs need a port");
  const spec: OriginSpec = { id: o.id, url: o.url };
  if (o.intervalMs !== undefined) {
    const r = positiveInt(o.intervalMs, `${path}.intervalMs`, 3_600_000);
    if (!r.ok) return r;
    spec.intervalMs = r.value;
  }
  if (o.timeoutMs !== undefined) {
    const r = positiveInt(o.timeoutMs, `${path}.timeoutMs`, 600_000);
    if (!r.ok) return r;
    spec.timeoutMs = r.value;
  }
  if (o.method !== undefined) {
    if (o.method !== "GET" && o.method !== "HEAD") return fail(`${path}.method`, "must be GET or HEAD");
    spec.method = o.method;
  }
  if (o.expectStatus !== undefined) {
    if (!Array.isArray(o.expectStatus) || o.expectStatus.length === 0) return fail(`${path}.expectStatus`, "must be a non-empty array");
    for (const [i, s] of o.expectStatus.entries()) {
      const ok = (typeof s === "number" && Number.isInteger(s) && s >= 100 && s <= 599) || (typeof s === "string" && STATUS_RANGE.test(s));
      if (!ok) return fail(`${path}.expectStatus[${i}]`, 'must be a status (200) or a range ("200-399")');
    }
    spec.expectStatus = o.expectStatus as (number | string)[];
  }
  if (o.expectBody !== undefined) {
    if (typeof o.expectBody !== "string" || o.expectBody.length > 1024) return fail(`${path}.expectBody`, "must be a string of at most 1024 characters");
    spec.expectBody = o.expectBody;
  }
  for (const key of ["rise", "fall"] as const) {
    if (o[key] !== undefined) {
      const r = positiveInt(o[key], `${path}.${key}`, 100);
      if (!r.ok) return r;
      spec[key] = r.value;
    }
  }
  return { ok: true, value: spec };
}

/** Two specs describe the same check (used to skip no-op updates from the store). */
export function sameSpec(a: OriginSpec, b: OriginSpec): boolean {
  return JSON.stringify(a, Object.keys(a).sort()) === JSON.stringify(b, Object.keys(b).sort());
}
