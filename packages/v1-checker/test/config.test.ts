import { describe, expect, it } from "vitest";
import { fileURLToPath } from "node:url";
import { BUILTIN_DEFAULTS, loadConfigFile, parseConfig, parseConfigText, parseStatusRanges, parseTarget, statusAccepted } from "../src/index.ts";

describe("parseTarget", () => {
  it("fills the built-in defaults", () => {
    const t = parseTarget({ id: "web-1", url: "http://127.0.0.1:12000/health" });
    expect(t).toMatchObject({
      ok: true,
      value: { id: "web-1", kind: "http", method: "GET", intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, followRedirects: 0, tlsVerify: true, expectedStatus: [{ min: 200, max: 399 }] },
    });
  });

  it("reads tcp:// targets", () => {
    expect(parseTarget({ id: "redis", url: "tcp://127.0.0.1:6379" })).toMatchObject({ ok: true, value: { kind: "tcp", url: "tcp://127.0.0.1:6379" } });
    expect(parseTarget({ id: "redis", url: "tcp://127.0.0.1" })).toMatchObject({ ok: false, errors: [expect.stringMatching(/^url: a tcp:\/\/ URL needs a host and a port/)] });
  });

  it("names every bad field, with a hint for a misspelt one", () => {
    const r = parseTarget({ id: "bad id!", url: "ftp://x", intervalMS: 5, rise: 0, method: "POST", expectedStatus: ["200-199"], bodyMatches: "(", headers: { "bad header": "x" } }, BUILTIN_DEFAULTS, "targets[4]");
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.errors.join("\n");
    expect(text).toMatch(/^targets\[4\]\.intervalMS: unknown field \(did you mean intervalMs\?\)$/m);
    expect(text).toMatch(/^targets\[4\]\.id: must be 1-128 characters/m);
    expect(text).toMatch(/^targets\[4\]\.url: must start with http:\/\/, https:\/\/ or tcp:\/\//m);
    expect(text).toMatch(/^targets\[4\]\.rise: must be an integer from 1 to 100, got 0$/m);
    expect(text).toMatch(/^targets\[4\]\.method: must be "GET" or "HEAD"/m);
    expect(text).toMatch(/^targets\[4\]\.expectedStatus\[0\]: expected a status 100-599 or a range/m);
    expect(text).toMatch(/^targets\[4\]\.bodyMatches: not a valid regular expression/m);
    expect(text).toMatch(/^targets\[4\]\.headers\.bad header: not a valid header name/m);
  });

  it("rejects a missing id or url and non-objects", () => {
    expect(parseTarget({})).toMatchObject({ ok: false, errors: ["id: required", "url: required"] });
    expect(parseTarget("http://x")).toMatchObject({ ok: false, errors: [expect.stringMatching(/^target: must be an object/)] });
  });

  it("accepts statuses as numbers, ranges and lists", () => {
    expect(parseStatusRanges([200, "300-302"], "s")).toEqual({ ok: true, value: [{ min: 200, max: 200 }, { min: 300, max: 302 }] });
    expect(parseStatusRanges("204", "s")).toEqual({ ok: true, value: [{ min: 204, max: 204 }] });
    expect(statusAccepted(301, [{ min: 200, max: 200 }, { min: 300, max: 302 }])).toBe(true);
    expect(statusAccepted(404, [{ min: 200, max: 399 }])).toBe(false);
    expect(parseStatusRanges([], "s").ok).toBe(false);
  });
});

describe("parseConfig", () => {
  it("applies defaults to targets and engine settings", () => {
    const c = parseConfig({ defaults: { intervalMs: 1000, fall: 2 }, targets: [{ id: "a", url: "http://127.0.0.1:1/" }, { id: "b", url: "http://127.0.0.1:2/", fall: 5 }], maxConcurrentChecks: 50 });
    expect(c).toMatchObject({ ok: true, value: { maxConcurrentChecks: 50, historySize: 20, targets: [{ intervalMs: 1000, fall: 2 }, { intervalMs: 1000, fall: 5 }] } });
  });

  it("reports duplicates, bad defaults and unknown top-level fields by name", () => {
    const c = parseConfig({ defaults: { timeoutMs: -1, id: "x" }, targets: [{ id: "a", url: "http://h/" }], target: [] });
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.errors).toContain("defaults.timeoutMs: must be an integer from 1 to 600000, got -1");
    expect(c.errors.join("\n")).toMatch(/^defaults\.id: unknown field/m);
    expect(c.errors.join("\n")).toMatch(/^target: unknown field \(did you mean targets\?\)/m);
    const d = parseConfig({ targets: [{ id: "a", url: "http://h/" }, { id: "a", url: "http://i/" }] });
    expect(d).toMatchObject({ ok: false, errors: ['targets[1].id: duplicate of targets[0].id "a"'] });
    expect(parseConfig({ targets: {} })).toMatchObject({ ok: false, errors: ["targets: must be an array of targets"] });
    expect(parseConfig([])).toMatchObject({ ok: false });
  });

  it("reads YAML and JSON text, and points at syntax errors", () => {
    const yaml = "defaults:\n  intervalMs: 500\ntargets:\n  - id: a\n    url: http://127.0.0.1:1/\n";
    expect(parseConfigText(yaml, "heck.yaml")).toMatchObject({ ok: true, value: { targets: [{ id: "a", intervalMs: 500 }] } });
    expect(parseConfigText('{"targets": []}', "heck.json")).toMatchObject({ ok: true });
    expect(parseConfigText('{"targets": [}', "heck.json")).toMatchObject({ ok: false, errors: [expect.stringMatching(/^heck\.json: not valid JSON/)] });
    expect(parseConfigText("targets:\n  - id: a\n   url: x\n", "heck.yaml")).toMatchObject({ ok: false, errors: [expect.stringMatching(/^heck\.yaml: not valid YAML at line \d+/)] });
    expect(parseConfigText("", "heck.yaml")).toMatchObject({ ok: false, errors: [expect.stringMatching(/empty/)] });
  });
});

describe("the example configs", () => {
  it("are valid", async () => {
    for (const [file, n] of [["fleet-20.yaml", 21], ["fleet-3.json", 3]] as const) {
      const r = await loadConfigFile(fileURLToPath(new URL(`../examples/${file}`, import.meta.url)));
      expect(r.ok ? r.value.targets.length : r.errors).toBe(n);
    }
  });
});
