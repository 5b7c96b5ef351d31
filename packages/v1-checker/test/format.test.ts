import { describe, expect, it } from "vitest";
import { classifyErrorCode, formatAge, formatTable, percentile } from "../src/index.ts";

describe("classifyErrorCode", () => {
  it("names socket, DNS, TLS and parser errors", () => {
    expect(classifyErrorCode("ECONNREFUSED", "")).toBe("refused");
    expect(classifyErrorCode("ECONNRESET", "")).toBe("reset");
    expect(classifyErrorCode("UND_ERR_SOCKET", "other side closed")).toBe("reset");
    expect(classifyErrorCode("ENOTFOUND", "")).toBe("dns");
    expect(classifyErrorCode("UND_ERR_CONNECT_TIMEOUT", "")).toBe("timeout");
    expect(classifyErrorCode("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate")).toBe("tls");
    expect(classifyErrorCode("ERR_TLS_CERT_ALTNAME_INVALID", "")).toBe("tls");
    expect(classifyErrorCode("HPE_INVALID_CONSTANT", "")).toBe("protocol");
    expect(classifyErrorCode("EHOSTUNREACH", "")).toBe("network");
  });
});

describe("formatting", () => {
  it("aligns table columns", () => {
    expect(formatTable(["ID", "STATUS"], [["a", "healthy"], ["bbb", "unknown"]])).toEqual(["ID   STATUS", "a    healthy", "bbb  unknown"]);
  });
  it("formats ages and percentiles", () => {
    expect(formatAge(850)).toBe("850ms");
    expect(formatAge(12_340)).toBe("12.3s");
    expect(formatAge(245_000)).toBe("4m05s");
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 99)).toBe(5);
    expect(percentile([], 50)).toBeNaN();
  });
});
