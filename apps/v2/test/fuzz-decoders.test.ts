/**
 * The agent's decoders of outside input, fuzzed: a member's SWIM metadata
 * (bytes from the wire), values read from the shared store (another
 * version, or other software, may have written them), the origins in a
 * POST /v1/origins body, and the config file. Random input and mutations
 * of real values must decode or be refused with a typed error naming the
 * field, never throw, and a decoded value must have the types it claims.
 * Bounded runs.
 */
import fc from "fast-check";
import { mutateText, textMutation } from "@heck/sim/testing";
import { parseDefaults, parseTarget } from "@heck/v1-checker";
import { describe, expect, it } from "vitest";
import { decodeAgentConfig } from "../src/core/config.ts";
import { decodeRecord, observe } from "../src/core/health-record.ts";
import { decodeMeta } from "../src/io/agent.ts";
import { decodeStored, storeKeys } from "../src/io/store/store.ts";

/** A real JSON object with one field (or a new one) set to any JSON value. */
const fieldReplaced = (real: Record<string, unknown>) =>
  fc.tuple(fc.oneof(fc.constantFrom(...Object.keys(real)), fc.string({ maxLength: 6 })), fc.jsonValue({ maxDepth: 3 })).map(([k, v]) => ({ ...real, [k]: v }));

const record = observe(undefined, "o1", "n1", { status: "unhealthy", checkedAtMs: 1_700_000_000_000, latencyMs: 12, error: "status: HTTP 503" } as Parameters<typeof observe>[3]);

describe("SWIM metadata from other members", () => {
  const real = JSON.stringify({ api: "10.0.0.1:8946", crdt: "10.0.0.1:7947", grpc: "10.0.0.1:2379" });
  const check = (bytes: Uint8Array) => {
    const m = decodeMeta(bytes);
    if (m === undefined) return;
    expect(typeof m.api).toBe("string");
    for (const k of ["crdt", "grpc"] as const) if (m[k] !== undefined) expect(typeof m[k], k).toBe("string");
  };

  it("random and mutated bytes never throw, and what decodes has string addresses", () => {
    expect(decodeMeta(new TextEncoder().encode(real))).toEqual(JSON.parse(real));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), check),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(textMutation, (m) => check(new TextEncoder().encode(mutateText(real, m)))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fieldReplaced(JSON.parse(real) as Record<string, unknown>), (v) => check(new TextEncoder().encode(JSON.stringify(v)))),
      { numRuns: 500 },
    );
  });
});

describe("values read from the shared store", () => {
  const keys = storeKeys("heck/");
  const realOrigin = JSON.stringify({ id: "o1", url: "http://10.0.0.9:18160/health" });
  const realRecord = JSON.stringify(record);
  const decode = (key: string, value: string | undefined) => {
    let bad = "";
    const e = decodeStored("heck/", key, value, (why) => (bad = why));
    // No value is a deletion, which decodes to nothing; a value that decodes to nothing must say why.
    if (e === undefined && value !== undefined) expect(bad, `${key} = ${value}: refused without a reason`).not.toBe("");
  };

  it("the real values decode", () => {
    expect(decodeStored("heck/", keys.origin("o1"), realOrigin, () => undefined)).toMatchObject({ type: "origin" });
    expect(decodeRecord(JSON.parse(realRecord))).toMatchObject({ ok: true });
  });

  it("random keys and values, mutated origins and health records never throw; a refusal says why", () => {
    fc.assert(
      fc.property(fc.constantFrom(keys.origin("o1"), keys.record("o1")), fc.option(fc.string({ maxLength: 200 }), { nil: undefined }), decode),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(textMutation, (m) => decode(keys.origin("o1"), mutateText(realOrigin, m))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(textMutation, (m) => decode(keys.record("o1"), mutateText(realRecord, m))),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fieldReplaced(JSON.parse(realRecord) as Record<string, unknown>), (v) => {
        decode(keys.record("o1"), JSON.stringify(v));
        const r = decodeRecord(v);
        if (!r.ok) expect(r.message.startsWith(`${r.field}:`), r.message).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("origins in a POST /v1/origins body, and the config file", () => {
  const defaults = parseDefaults({ intervalMs: 1000, timeoutMs: 500, rise: 2, fall: 3 });
  if (!defaults.ok) throw new Error(defaults.errors.join("; "));
  const realOrigin = { id: "api-1", url: "https://api-1.internal/health", expectedStatus: "200" };
  const realConfig = { id: "n1", bind: "127.0.0.1:7946", api: "127.0.0.1:8946", join: ["127.0.0.1:7947"], store: "crdt", intervalMs: 2000, origins: [realOrigin] };
  const target = (raw: unknown) => {
    const r = parseTarget(raw, defaults.value, "[0]");
    if (!r.ok) for (const e of r.errors) expect(e).toMatch(/^\[0\]/);
  };
  const config = (raw: unknown) => {
    const r = decodeAgentConfig(raw);
    if (!r.ok) expect(r.message.startsWith(`${r.field}:`), r.message).toBe(true);
  };

  it("the real ones are accepted", () => {
    expect(parseTarget(realOrigin, defaults.value, "[0]").ok).toBe(true);
    expect(decodeAgentConfig(realConfig).ok).toBe(true);
  });

  it("any JSON, and real ones with a field replaced, are accepted or refused naming the field; nothing throws", () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), target), { numRuns: 500 });
    fc.assert(fc.property(fieldReplaced(realOrigin), target), { numRuns: 1000 });
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 4 }), config), { numRuns: 500 });
    fc.assert(fc.property(fieldReplaced(realConfig), config), { numRuns: 1000 });
  });
});
