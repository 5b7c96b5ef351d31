import { describe, expect, it } from "vitest";
import { DEFAULT_SLOW_LATENCY_MS, flappingIsFailing, healthyBehaviour, parseBehaviour, planResponse } from "../src/index.ts";

describe("parseBehaviour", () => {
  it("fills per-mode defaults", () => {
    const failing = parseBehaviour({ mode: "failing" });
    expect(failing.ok && failing.value.status).toBe(503);
    const slow = parseBehaviour({ mode: "slow" });
    expect(slow.ok && slow.value.latencyMs).toBe(DEFAULT_SLOW_LATENCY_MS);
    const redirect = parseBehaviour({ mode: "redirect" });
    expect(redirect.ok && redirect.value.status).toBe(302);
  });

  it("names every bad field", () => {
    const r = parseBehaviour({ mode: "nope", status: 700, latencyMs: -1, colour: "red" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.join("\n")).toMatch(/^colour: unknown field/m);
    expect(r.errors.join("\n")).toMatch(/^mode: must be one of/m);
    expect(r.errors.join("\n")).toMatch(/^status: must be an integer from 100 to 599/m);
    expect(r.errors.join("\n")).toMatch(/^latencyMs: /m);
  });

  it("rejects non-objects and a missing mode", () => {
    expect(parseBehaviour("failing")).toEqual({ ok: false, errors: [expect.stringMatching(/^body: must be a JSON object/)] });
    expect(parseBehaviour({})).toEqual({ ok: false, errors: [expect.stringMatching(/^mode: required/)] });
    expect(parseBehaviour({ mode: "redirect", status: 200 }).ok).toBe(false);
    expect(parseBehaviour({ mode: "redirect", location: "a\r\nb" }).ok).toBe(false);
  });
});

describe("planResponse", () => {
  it("answers each mode as documented", () => {
    const plan = (input: object) => {
      const p = parseBehaviour(input);
      if (!p.ok) throw new Error(p.errors.join());
      return planResponse(p.value, 7, 1000, 0);
    };
    expect(plan({ mode: "healthy" })).toMatchObject({ type: "respond", status: 200, body: expect.stringContaining('"status":"ok"'), delayMs: 0 });
    expect(plan({ mode: "failing", status: 500 })).toMatchObject({ type: "respond", status: 500 });
    expect(plan({ mode: "slow", latencyMs: 300 })).toMatchObject({ type: "respond", status: 200, delayMs: 300 });
    expect(plan({ mode: "wrong-body" })).toMatchObject({ type: "respond", status: 200, body: expect.not.stringContaining('"status":"ok"') });
    expect(plan({ mode: "wrong-body", body: "teapot" })).toMatchObject({ body: "teapot" });
    expect(plan({ mode: "hanging" })).toEqual({ type: "hang" });
    expect(plan({ mode: "reset" })).toEqual({ type: "reset" });
    expect(plan({ mode: "redirect", location: "/elsewhere" })).toMatchObject({ status: 302, location: "/elsewhere" });
  });

  it("flaps healthy first, then failing, every periodMs", () => {
    expect(flappingIsFailing(1000, 0, 0)).toBe(false);
    expect(flappingIsFailing(1000, 999, 0)).toBe(false);
    expect(flappingIsFailing(1000, 1000, 0)).toBe(true);
    expect(flappingIsFailing(1000, 2500, 0)).toBe(false);
    const b = { ...healthyBehaviour(), mode: "flapping" as const, status: 503, periodMs: 100 };
    expect(planResponse(b, 0, 150, 0)).toMatchObject({ status: 503 });
    expect(planResponse(b, 0, 250, 0)).toMatchObject({ status: 200 });
  });
});
