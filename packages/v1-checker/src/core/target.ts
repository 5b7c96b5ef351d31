import type { Parsed, StatusRange, TargetSpec } from "./types.ts";

/**
 * The per-target settings a config's `defaults` may set, with the value used
 * when neither the target nor `defaults` sets them. Each default says why.
 */
export interface TargetDefaults {
  /**
   * Time between the starts of two checks of a target. 2000 ms is HAProxy's
   * `inter` default: with `fall` 3 a dead origin is noticed within about
   * fall x interval + timeout = 7 s, at one request per 2 s per origin.
   */
  intervalMs: number;
  /**
   * How long one check may take before it counts as `timeout`. 1000 ms is
   * Kubernetes' probe default; on a LAN a healthy origin answers in
   * milliseconds, so a second means something is wrong.
   */
  timeoutMs: number;
  /** Consecutive successes to become healthy. 2 (HAProxy's default) ignores one lucky answer. */
  rise: number;
  /** Consecutive failures to become unhealthy. 3 (HAProxy's default) rides out one lost packet or GC pause. */
  fall: number;
  /** GET reads the body (needed for body checks); HEAD is cheaper when only the status matters. */
  method: "GET" | "HEAD";
  /** 200-399: 2xx means fine, and 3xx is an answer from a live server (redirects are not followed by default). */
  expectedStatus: StatusRange[];
  bodyContains: string | undefined;
  bodyMatches: string | undefined;
  /** 64 KiB: a health page is small; reading more only costs memory per concurrent check. */
  maxBodyBytes: number;
  headers: Record<string, string>;
  /** 0: a health check judges the origin it was given, not wherever it points (as HAProxy, Consul, Kubernetes). */
  followRedirects: number;
  /** true: an origin with a bad certificate is unhealthy for its real clients too. */
  tlsVerify: boolean;
  tlsCa: string | undefined;
}

/** The built-in defaults (see each field of {@link TargetDefaults} for why). */
export const BUILTIN_DEFAULTS: Readonly<TargetDefaults> = Object.freeze({
  intervalMs: 2000,
  timeoutMs: 1000,
  rise: 2,
  fall: 3,
  method: "GET",
  expectedStatus: [{ min: 200, max: 399 }],
  bodyContains: undefined,
  bodyMatches: undefined,
  maxBodyBytes: 64 * 1024,
  headers: {},
  followRedirects: 0,
  tlsVerify: true,
  tlsCa: undefined,
});

/** Fields a target may set; `defaults` may set all but `id` and `url`. */
export const TARGET_FIELDS = ["id", "url", ...Object.keys(BUILTIN_DEFAULTS)] as const;
const DEFAULT_FIELDS = new Set(Object.keys(BUILTIN_DEFAULTS));
const TARGET_FIELD_SET = new Set<string>(TARGET_FIELDS);

/** Limits that keep one bad config line from hurting the process. */
export const LIMITS = {
  intervalMs: { min: 10, max: 24 * 3600 * 1000 },
  timeoutMs: { min: 1, max: 10 * 60 * 1000 },
  rise: { min: 1, max: 100 },
  fall: { min: 1, max: 100 },
  maxBodyBytes: { min: 1, max: 16 * 1024 * 1024 },
  followRedirects: { min: 0, max: 20 },
} as const;

const ID_RE = /^[A-Za-z0-9._~:@-]{1,128}$/;
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Edit distance, for "did you mean" hints on misspelt fields. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** `"x: unknown field"` plus a hint at the closest known field, if one is close. */
export function unknownField(path: string, key: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(k, key);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const hint = best !== undefined && bestD <= 3 ? ` (did you mean ${best}?)` : "";
  return `${path}: unknown field${hint}`;
}

/**
 * Parses `200`, `"200-399"`, or an array of those into ranges. Errors name
 * `field` (e.g. `targets[2].expectedStatus`).
 */
export function parseStatusRanges(v: unknown, field: string): Parsed<StatusRange[]> {
  const items = Array.isArray(v) ? v : [v];
  if (items.length === 0) return { ok: false, errors: [`${field}: must not be empty`] };
  const out: StatusRange[] = [];
  for (const [k, item] of items.entries()) {
    const where = Array.isArray(v) ? `${field}[${k}]` : field;
    if (typeof item === "number" && Number.isInteger(item) && item >= 100 && item <= 599) {
      out.push({ min: item, max: item });
      continue;
    }
    const m = typeof item === "string" ? /^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$/.exec(item) : null;
    if (m) {
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : Number(m[2]);
      if (min >= 100 && max <= 599 && min <= max) {
        out.push({ min, max });
        continue;
      }
    }
    return { ok: false, errors: [`${where}: expected a status 100-599 or a range like "200-399", got ${JSON.stringify(item)}`] };
  }
  return { ok: true, value: out };
}

/** Formats ranges back as `200-399,404` for messages and the API. */
export function formatStatusRanges(ranges: readonly StatusRange[]): string {
  return ranges.map((r) => (r.min === r.max ? String(r.min) : `${r.min}-${r.max}`)).join(",");
}

/** True when `status` lies in one of `ranges`. */
export function statusAccepted(status: number, ranges: readonly StatusRange[]): boolean {
  for (const r of ranges) if (status >= r.min && status <= r.max) return true;
  return false;
}

/**
 * Reads the per-target settings from `input` (a target or the `defaults`
 * object) over `base`. `path` prefixes every error (`targets[3]`, `defaults`).
 */
function readSettings(input: Record<string, unknown>, base: TargetDefaults, path: string, errors: string[]): TargetDefaults {
  const out: TargetDefaults = { ...base, headers: { ...base.headers }, expectedStatus: [...base.expectedStatus] };
  const p = (name: string) => (path === "" ? name : `${path}.${name}`);
  const int = (name: keyof typeof LIMITS): void => {
    const v = input[name];
    if (v === undefined) return;
    const { min, max } = LIMITS[name];
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      errors.push(`${p(name)}: must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return;
    }
    out[name] = v;
  };
  int("intervalMs");
  int("timeoutMs");
  int("rise");
  int("fall");
  int("maxBodyBytes");
  if (typeof input["followRedirects"] === "boolean") out.followRedirects = input["followRedirects"] ? 5 : 0;
  else int("followRedirects");

  const method = input["method"];
  if (method !== undefined) {
    if (method === "GET" || method === "HEAD") out.method = method;
    else errors.push(`${p("method")}: must be "GET" or "HEAD", got ${JSON.stringify(method)}`);
  }
  if (input["expectedStatus"] !== undefined) {
    const r = parseStatusRanges(input["expectedStatus"], p("expectedStatus"));
    if (r.ok) out.expectedStatus = r.value;
    else errors.push(...r.errors);
  }
  const contains = input["bodyContains"];
  if (contains !== undefined) {
    if (typeof contains === "string" && contains.length > 0 && contains.length <= 4096) out.bodyContains = contains;
    else errors.push(`${p("bodyContains")}: must be a non-empty string of at most 4096 characters`);
  }
  const matches = input["bodyMatches"];
  if (matches !== undefined) {
    if (typeof matches !== "string" || matches.length === 0 || matches.length > 4096) {
      errors.push(`${p("bodyMatches")}: must be a non-empty regular expression of at most 4096 characters`);
    } else {
      try {
        new RegExp(matches);
        out.bodyMatches = matches;
      } catch (err) {
        errors.push(`${p("bodyMatches")}: not a valid regular expression (${(err as Error).message})`);
      }
    }
  }
  const headers = input["headers"];
  if (headers !== undefined) {
    if (!isRecord(headers)) errors.push(`${p("headers")}: must be an object of header names to string values`);
    else {
      for (const [name, value] of Object.entries(headers)) {
        if (!HEADER_NAME_RE.test(name)) errors.push(`${p("headers")}.${name}: not a valid header name`);
        else if (typeof value !== "string" || /[\r\n\0]/.test(value)) errors.push(`${p("headers")}.${name}: must be a string without line breaks`);
        else out.headers[name.toLowerCase()] = value;
      }
    }
  }
  const verify = input["tlsVerify"];
  if (verify !== undefined) {
    if (typeof verify === "boolean") out.tlsVerify = verify;
    else errors.push(`${p("tlsVerify")}: must be true or false`);
  }
  const ca = input["tlsCa"];
  if (ca !== undefined) {
    if (typeof ca === "string" && ca.includes("-----BEGIN CERTIFICATE-----")) out.tlsCa = ca;
    else errors.push(`${p("tlsCa")}: must be PEM text containing "-----BEGIN CERTIFICATE-----"`);
  }
  return out;
}

/**
 * Validates the `defaults` object of a config (everything a target may set
 * except `id` and `url`) over the built-in defaults.
 */
export function parseDefaults(input: unknown, path = "defaults"): Parsed<TargetDefaults> {
  if (input === undefined) return { ok: true, value: { ...BUILTIN_DEFAULTS } };
  if (!isRecord(input)) return { ok: false, errors: [`${path}: must be an object`] };
  const errors: string[] = [];
  for (const key of Object.keys(input)) {
    if (!DEFAULT_FIELDS.has(key)) errors.push(unknownField(`${path}.${key}`, key, DEFAULT_FIELDS));
  }
  const value = readSettings(input, BUILTIN_DEFAULTS, path, errors);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value };
}

/**
 * Validates one target (from a config file, `POST /v1/targets` or a library
 * call) over `defaults`. Every error names its field, prefixed by `path`
 * (`targets[3].url`, or just `url` for an API body).
 */
export function parseTarget(input: unknown, defaults: TargetDefaults = BUILTIN_DEFAULTS, path = ""): Parsed<TargetSpec> {
  const p = (name: string) => (path === "" ? name : `${path}.${name}`);
  if (!isRecord(input)) return { ok: false, errors: [`${path === "" ? "target" : path}: must be an object with at least "id" and "url"`] };
  const errors: string[] = [];
  for (const key of Object.keys(input)) {
    if (!TARGET_FIELD_SET.has(key)) errors.push(unknownField(p(key), key, TARGET_FIELDS));
  }
  const id = input["id"];
  if (id === undefined) errors.push(`${p("id")}: required`);
  else if (typeof id !== "string" || !ID_RE.test(id)) errors.push(`${p("id")}: must be 1-128 characters of letters, digits and . _ ~ : @ -, got ${JSON.stringify(id)}`);
  const rawUrl = input["url"];
  let kind: "http" | "tcp" = "http";
  let url = "";
  if (rawUrl === undefined) errors.push(`${p("url")}: required`);
  else if (typeof rawUrl !== "string") errors.push(`${p("url")}: must be a string`);
  else {
    let parsed: URL | undefined;
    try {
      parsed = new URL(rawUrl);
    } catch {
      errors.push(`${p("url")}: not a valid URL: ${JSON.stringify(rawUrl)}`);
    }
    if (parsed) {
      if (parsed.protocol === "http:" || parsed.protocol === "https:") {
        if (parsed.hostname === "") errors.push(`${p("url")}: has no host`);
        url = parsed.href;
      } else if (parsed.protocol === "tcp:") {
        kind = "tcp";
        if (parsed.hostname === "" || parsed.port === "") errors.push(`${p("url")}: a tcp:// URL needs a host and a port, like tcp://127.0.0.1:6379`);
        url = `tcp://${parsed.host}`;
      } else {
        errors.push(`${p("url")}: must start with http://, https:// or tcp://, got ${JSON.stringify(rawUrl)}`);
      }
    }
  }
  const s = readSettings(input, defaults, path, errors);
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      id: id as string,
      url,
      kind,
      method: s.method,
      expectedStatus: s.expectedStatus,
      bodyContains: s.bodyContains,
      bodyMatches: s.bodyMatches,
      maxBodyBytes: s.maxBodyBytes,
      headers: s.headers,
      followRedirects: s.followRedirects,
      tlsVerify: s.tlsVerify,
      tlsCa: s.tlsCa,
      intervalMs: s.intervalMs,
      timeoutMs: s.timeoutMs,
      rise: s.rise,
      fall: s.fall,
    },
  };
}
