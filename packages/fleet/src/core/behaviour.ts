/**
 * What an origin does with a request, as plain data. The io layer
 * (src/io/fleet.ts) asks {@link planResponse} what to do for each request and
 * carries it out; everything here is pure so it can be tested without sockets.
 */
import { utf8Length } from "@heck/sim";

/** Every mode an origin can be in; the control API's `mode` field takes one of these. */
export const MODES = ["healthy", "failing", "slow", "hanging", "closed", "flapping", "wrong-body", "reset", "redirect"] as const;

/** One of {@link MODES}. */
export type Mode = (typeof MODES)[number];

/**
 * An origin's behaviour. `mode` picks the shape; the other fields tune it and
 * are ignored by modes that have no use for them (see {@link parseBehaviour}).
 */
export interface Behaviour {
  mode: Mode;
  /** Status for `failing`, the failing half of `flapping`, and `redirect`. */
  status: number;
  /** Delay before answering. `slow` defaults it to {@link DEFAULT_SLOW_LATENCY_MS}; other answering modes to 0. */
  latencyMs: number;
  /** Time spent in each half (healthy, then failing) of a `flapping` cycle. */
  periodMs: number;
  /** Body for `wrong-body` (healthy origins always send the healthy body). */
  body: string;
  /** `Location` header for `redirect`. */
  location: string;
}

/** A slow origin's default delay: longer than a typical 1 s check timeout, so `slow` alone reads as a timeout. */
export const DEFAULT_SLOW_LATENCY_MS = 2000;
/** A flapping origin's default half-period: short enough to watch, long enough for rise/fall 2/3 at 1 s to follow it. */
export const DEFAULT_FLAP_PERIOD_MS = 5000;
/** The upper bound on any delay, so a typo cannot park requests for hours. */
export const MAX_LATENCY_MS = 600_000;
/** The upper bound on a custom body, so the control API cannot be used to fill memory. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The behaviour every origin starts with. */
export function healthyBehaviour(): Behaviour {
  return { mode: "healthy", status: 200, latencyMs: 0, periodMs: DEFAULT_FLAP_PERIOD_MS, body: "", location: "/" };
}

/** The body a healthy origin sends: JSON a checker can match with `"status":"ok"`. */
export function healthyBody(index: number): string {
  return `{"status":"ok","origin":${index}}\n`;
}

/** The default body of `wrong-body`: same shape, but without `"status":"ok"`. */
export function wrongBody(index: number): string {
  return `{"status":"degraded","origin":${index}}\n`;
}

/** The result of validating untrusted input: a value, or errors that each name the field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };

const BEHAVIOUR_FIELDS = new Set(["mode", "status", "latencyMs", "periodMs", "body", "location"]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function intField(obj: Record<string, unknown>, name: string, min: number, max: number, errors: string[]): number | undefined {
  const v = obj[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    errors.push(`${name}: must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

/**
 * Validates a control-API body such as `{ "mode": "failing", "status": 500 }`
 * and fills defaults per mode. `extraFields` lists keys the caller handles
 * itself (the bulk endpoint's selection), which are then not rejected.
 */
export function parseBehaviour(input: unknown, extraFields: ReadonlySet<string> = new Set()): Parsed<Behaviour> {
  if (!isRecord(input)) return { ok: false, errors: ["body: must be a JSON object like {\"mode\":\"failing\"}"] };
  const errors: string[] = [];
  for (const key of Object.keys(input)) {
    if (!BEHAVIOUR_FIELDS.has(key) && !extraFields.has(key)) errors.push(`${key}: unknown field (known: ${[...BEHAVIOUR_FIELDS].join(", ")})`);
  }
  const mode = input["mode"];
  if (mode === undefined) errors.push(`mode: required, one of ${MODES.join(", ")}`);
  else if (typeof mode !== "string" || !(MODES as readonly string[]).includes(mode)) {
    errors.push(`mode: must be one of ${MODES.join(", ")}, got ${JSON.stringify(mode)}`);
  }
  const status = intField(input, "status", 100, 599, errors);
  const latencyMs = intField(input, "latencyMs", 0, MAX_LATENCY_MS, errors);
  const periodMs = intField(input, "periodMs", 1, 24 * 3600 * 1000, errors);
  const body = input["body"];
  if (body !== undefined && (typeof body !== "string" || utf8Length(body) > MAX_BODY_BYTES)) {
    errors.push(`body: must be a string of at most ${MAX_BODY_BYTES} bytes`);
  }
  const location = input["location"];
  if (location !== undefined && (typeof location !== "string" || location.length === 0 || location.length > 2048 || /[\r\n]/.test(location))) {
    errors.push("location: must be a non-empty string without line breaks, at most 2048 characters");
  }
  if (errors.length > 0) return { ok: false, errors };

  const m = mode as Mode;
  const b = healthyBehaviour();
  b.mode = m;
  b.status = status ?? (m === "redirect" ? 302 : m === "failing" || m === "flapping" ? 503 : 200);
  b.latencyMs = latencyMs ?? (m === "slow" ? DEFAULT_SLOW_LATENCY_MS : 0);
  b.periodMs = periodMs ?? DEFAULT_FLAP_PERIOD_MS;
  b.body = typeof body === "string" ? body : "";
  b.location = typeof location === "string" ? location : "/";
  if (m === "redirect" && (b.status < 300 || b.status > 399)) return { ok: false, errors: [`status: a redirect needs a 3xx status, got ${b.status}`] };
  return { ok: true, value: b };
}

/**
 * What to do with one request. `respond` sends `status` and `body` after
 * `delayMs`; `hang` keeps the request open until the client gives up;
 * `reset` destroys the connection without answering.
 */
export type ResponsePlan =
  | { type: "respond"; status: number; body: string; delayMs: number; location?: string }
  | { type: "hang" }
  | { type: "reset" };

/**
 * Decides the response for origin `index` in behaviour `b` at `nowMs`, where
 * `sinceMs` is when the behaviour was set. Flapping starts healthy and swaps
 * every `periodMs`, so a test can predict which half a request lands in.
 * A `closed` origin never sees requests (its listener is shut), but a request
 * racing the shutdown is reset rather than answered.
 */
export function planResponse(b: Behaviour, index: number, nowMs: number, sinceMs: number): ResponsePlan {
  switch (b.mode) {
    case "healthy":
    case "slow":
      return { type: "respond", status: 200, body: healthyBody(index), delayMs: b.latencyMs };
    case "failing":
      return { type: "respond", status: b.status, body: `{"status":"error","origin":${index}}\n`, delayMs: b.latencyMs };
    case "wrong-body":
      return { type: "respond", status: 200, body: b.body === "" ? wrongBody(index) : b.body, delayMs: b.latencyMs };
    case "flapping": {
      const failingHalf = flappingIsFailing(b.periodMs, nowMs, sinceMs);
      return failingHalf
        ? { type: "respond", status: b.status, body: `{"status":"error","origin":${index}}\n`, delayMs: b.latencyMs }
        : { type: "respond", status: 200, body: healthyBody(index), delayMs: b.latencyMs };
    }
    case "redirect":
      return { type: "respond", status: b.status, body: "", delayMs: b.latencyMs, location: b.location };
    case "hanging":
      return { type: "hang" };
    case "closed":
    case "reset":
      return { type: "reset" };
  }
}

/** True when a flapping origin is in its failing half at `nowMs`. */
export function flappingIsFailing(periodMs: number, nowMs: number, sinceMs: number): boolean {
  const elapsed = Math.max(0, nowMs - sinceMs);
  return Math.floor(elapsed / periodMs) % 2 === 1;
}
