/**
 * Validation of what a learner types or pastes (CLI flags, URL fields), in
 * one place so the CLI and the page give the same clear messages.
 */
import { STAGES, isStageName, type StageName } from "./stage.ts";

/** A checked value, or what is wrong with it in words. */
export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

/** A stage name, exactly as listed in {@link STAGES}. */
export function checkStage(text: string | undefined): Checked<StageName> {
  if (text === undefined || text === "") return { ok: false, error: `missing stage (one of ${STAGES.join(", ")})` };
  return isStageName(text) ? { ok: true, value: text } : { ok: false, error: `unknown stage ${JSON.stringify(text)} (one of ${STAGES.join(", ")})` };
}

/** A seed: a whole number from 0 to 2^32 - 1, the range HECK_SEED values take. */
export function checkSeed(text: string | undefined): Checked<number> {
  if (text === undefined || !/^\d{1,10}$/.test(text.trim())) return { ok: false, error: `seed must be a whole number from 0 to 4294967295, got ${JSON.stringify(text ?? "")}` };
  const n = Number(text.trim());
  return n <= 0xffffffff ? { ok: true, value: n } : { ok: false, error: `seed must be a whole number from 0 to 4294967295, got ${JSON.stringify(text)}` };
}

/** A simulated time in ms: a number from 0 to ten days. */
export function checkTimeMs(text: string | undefined, what: string): Checked<number> {
  const n = Number(text);
  if (text === undefined || text.trim() === "" || !Number.isFinite(n) || n < 0 || n > 864_000_000) return { ok: false, error: `${what} must be a simulated time in ms from 0 to 864000000, got ${JSON.stringify(text ?? "")}` };
  return { ok: true, value: n };
}
