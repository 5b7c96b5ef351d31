import { BUILTIN_DEFAULTS, parseDefaults, parseTarget, unknownField, type TargetDefaults } from "./target.ts";
import type { Parsed, TargetSpec } from "./types.ts";

/**
 * A validated `heck-v1 run` config. The file's shape (the interface
 * contract, JSON or YAML):
 *
 * ```json
 * { "defaults": { "intervalMs": 1000, "timeoutMs": 500, "rise": 2, "fall": 3 },
 *   "targets": [ { "id": "web-1", "url": "http://127.0.0.1:12000/health" } ],
 *   "maxConcurrentChecks": 1000, "historySize": 20 }
 * ```
 */
export interface CheckerConfig {
  defaults: TargetDefaults;
  targets: TargetSpec[];
  /** Checks running at once over all targets (see {@link ENGINE_DEFAULTS}). */
  maxConcurrentChecks: number;
  /** Transitions kept per target. */
  historySize: number;
}

/** Engine-wide settings and why they default as they do. */
export const ENGINE_DEFAULTS = {
  /**
   * 1000 checks in flight: 10,000 targets at 1 s with millisecond answers
   * need about 10 at once; the bound only bites when many origins hang, and
   * then it caps sockets and memory instead of letting them grow with n.
   */
  maxConcurrentChecks: 1000,
  /** 20 transitions per target: enough to see a flapping pattern, small at 10,000 targets. */
  historySize: 20,
} as const;

const TOP_FIELDS = ["defaults", "targets", "maxConcurrentChecks", "historySize"];

function intAt(v: unknown, field: string, min: number, max: number, errors: string[]): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    errors.push(`${field}: must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

/**
 * Validates a whole config object (already parsed from JSON or YAML).
 * Collects every error, each naming its field (`targets[3].url: ...`), and
 * rejects duplicate ids.
 */
export function parseConfig(input: unknown): Parsed<CheckerConfig> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { ok: false, errors: ['config: must be an object like {"defaults": {...}, "targets": [...]}'] };
  }
  const obj = input as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of Object.keys(obj)) if (!TOP_FIELDS.includes(key)) errors.push(unknownField(key, key, TOP_FIELDS));
  const d = parseDefaults(obj["defaults"]);
  if (!d.ok) errors.push(...d.errors);
  const defaults = d.ok ? d.value : undefined;
  const maxConcurrentChecks = intAt(obj["maxConcurrentChecks"], "maxConcurrentChecks", 1, 100_000, errors) ?? ENGINE_DEFAULTS.maxConcurrentChecks;
  const historySize = intAt(obj["historySize"], "historySize", 1, 10_000, errors) ?? ENGINE_DEFAULTS.historySize;
  const targets: TargetSpec[] = [];
  const rawTargets = obj["targets"];
  if (rawTargets !== undefined && !Array.isArray(rawTargets)) errors.push("targets: must be an array of targets");
  else {
    const seen = new Map<string, number>();
    for (const [k, raw] of (rawTargets ?? []).entries()) {
      // With broken defaults, still validate targets (over the built-in
      // defaults) so one run reports every error.
      const t = parseTarget(raw, defaults ?? BUILTIN_DEFAULTS, `targets[${k}]`);
      if (!t.ok) {
        errors.push(...t.errors);
        continue;
      }
      const prev = seen.get(t.value.id);
      if (prev !== undefined) errors.push(`targets[${k}].id: duplicate of targets[${prev}].id ${JSON.stringify(t.value.id)}`);
      else seen.set(t.value.id, k);
      targets.push(t.value);
    }
  }
  if (errors.length > 0 || !defaults) return { ok: false, errors };
  return { ok: true, value: { defaults, targets, maxConcurrentChecks, historySize } };
}
