/**
 * The small utilities every stage imports instead of keeping a copy:
 * `utf8Length`, `crc32`, `fsyncDir`, and JSON over HTTP (`@heck/sim/http`). The HTTP
 * cases pin the refusals each stage's API documents: 413 over the limit,
 * 415 without a JSON content-type when required, 400 for bad JSON, and what
 * an empty body means.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { crc32 as zlibCrc32 } from "node:zlib";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { crc32, crc32Text, utf8Length } from "../src/index.ts";
import { callJson, countUnparsableRequests, hostPortOf, httpBaseOf, readBody, readJson, sendJson, type ReadJsonOptions } from "../src/io/http-json.ts";
import { fsyncDir, fsyncDirAsync } from "../src/io/index.ts";

describe("utf8Length", () => {
  it("equals Buffer.byteLength for any string, lone surrogates included", { timeout: 30_000 }, () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => utf8Length(s) === Buffer.byteLength(s, "utf8")), { numRuns: 500 });
    fc.assert(fc.property(fc.string({ unit: "grapheme-composite" }), (s) => utf8Length(s) === Buffer.byteLength(s, "utf8")), { numRuns: 500 });
    expect(utf8Length("é€😀a")).toBe(2 + 3 + 4 + 1);
    expect(utf8Length("\ud800x")).toBe(3 + 1);
  });
});

describe("crc32", () => {
  it("gives the IEEE check value and zlib's result", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => crc32(bytes) === zlibCrc32(bytes)), { numRuns: 300 });
  });

  it("of a string is the CRC-32 of its UTF-8 bytes, ASCII or not", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 100 }), (text) => crc32Text(text) === crc32(new TextEncoder().encode(text))), { numRuns: 300 });
    fc.assert(fc.property(fc.string({ unit: "grapheme-ascii", maxLength: 100 }), (text) => crc32Text(text) === zlibCrc32(text)), { numRuns: 300 });
  });
});

describe("fsyncDir", () => {
  it("syncs a directory and throws for a missing one (also on the thread pool)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "heck-sim-fsync-"));
    try {
      expect(() => fsyncDir(dir)).not.toThrow();
      expect(() => fsyncDir(join(dir, "missing"))).toThrow(/ENOENT/);
      await expect(fsyncDirAsync(dir)).resolves.toBeUndefined();
      await expect(fsyncDirAsync(join(dir, "missing"))).rejects.toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("JSON over HTTP", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  /** Serves readJson(options) and answers what it got; resolves with the base URL. */
  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<string> {
    server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const echo = (o: ReadJsonOptions) => async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readJson(req, o);
    if (body.ok) sendJson(res, 200, { got: body.value });
    else sendJson(res, body.status, { error: body.error });
  };

  it("counts connections whose bytes are not HTTP, answers them as Node does, and serves the next request", async () => {
    const url = await serve(async (_req, res) => sendJson(res, 200, { ok: true }));
    let counted = 0;
    countUnparsableRequests(server!, () => counted++);
    const port = (server!.address() as AddressInfo).port;
    /** The first line of what the server answers to `bytes` on a fresh connection. */
    const answer = (bytes: string) =>
      new Promise<string>((resolve) => {
        const socket = connect({ host: "127.0.0.1", port }, () => socket.end(bytes));
        let text = "";
        socket.on("data", (c: Buffer) => (text += c.toString()));
        socket.on("error", () => {});
        socket.on("close", () => resolve(text.split("\r\n")[0] ?? ""));
      });
    expect(await answer("\x16\x03\x01garbage\r\n\r\n")).toBe("HTTP/1.1 400 Bad Request");
    expect(await answer(`GET / HTTP/1.1\r\nx-big: ${"a".repeat(20_000)}\r\n\r\n`)).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect(counted).toBe(2);
    expect(await callJson("GET", url)).toMatchObject({ status: 200, body: { ok: true } });
    expect(counted).toBe(2);
  });

  it("reads JSON, and answers it with content-type and content-length", async () => {
    const url = await serve(echo({ maxBytes: 100 }));
    const r = await callJson("POST", url, { body: { a: "é" } });
    expect(r).toMatchObject({ status: 200, json: true, body: { got: { a: "é" } } });
    const raw = await fetch(url, { method: "POST", body: "[1]" });
    expect(raw.headers.get("content-type")).toBe("application/json");
    expect(raw.headers.get("content-length")).toBe(String(Buffer.byteLength('{"got":[1]}')));
  });

  it("refuses a body over the limit with 413, and bad JSON with 400 (with or without the parser's message)", async () => {
    let url = await serve(echo({ maxBytes: 10 }));
    expect(await callJson("POST", url, { body: "x".repeat(11) })).toMatchObject({ status: 413, body: { error: "body: larger than 10 bytes" } });
    expect(await callJson("POST", url, { body: "{nope" })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^body: not valid JSON \(.+\)$/) } });
    expect(await callJson("POST", url, { body: "" })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^body: not valid JSON \(/) } });
    await new Promise<void>((r) => server!.close(() => r()));
    url = await serve(echo({ maxBytes: 10, parserDetail: false }));
    expect(await callJson("POST", url, { body: "{nope" })).toMatchObject({ status: 400, body: { error: "body: not valid JSON" } });
  });

  it("gives an empty body the meaning asked for: a value, or a 400 with the caller's message", async () => {
    let url = await serve(echo({ maxBytes: 10, whenEmpty: { value: {} } }));
    expect(await callJson("POST", url)).toMatchObject({ status: 200, body: { got: {} } });
    await new Promise<void>((r) => server!.close(() => r()));
    url = await serve(echo({ maxBytes: 10, whenEmpty: { error: "body: empty; send {}" } }));
    expect(await callJson("POST", url, { body: "  \n" })).toMatchObject({ status: 400, body: { error: "body: empty; send {}" } });
  });

  it("requires application/json when asked (415), and drains an oversized body so the client reads the 413", async () => {
    const url = await serve(echo({ maxBytes: 1000, requireJsonContentType: true, drainUpToBytes: 16_000 }));
    expect(await callJson("POST", url, { body: "{}" })).toMatchObject({ status: 415, body: { error: "body: send JSON with content-type: application/json" } });
    expect(await callJson("POST", url, { body: {} })).toMatchObject({ status: 200, body: { got: {} } });
    expect(await callJson("POST", url, { body: "x".repeat(5000), headers: { "content-type": "application/json" } })).toMatchObject({ status: 413, body: { error: "body: larger than 1000 bytes" } });
  });

  it("readBody refuses by Content-Length before reading, when asked", async () => {
    const url = await serve(async (req, res) => {
      const b = await readBody(req, { maxBytes: 4, checkDeclaredLength: true, destroyOnOverflow: true });
      if (b.ok) sendJson(res, 200, { bytes: b.bytes.length });
      else sendJson(res, 413, { declared: b.declaredBytes ?? null }, { headers: { connection: "close" } });
    });
    expect(await callJson("PUT", url, { body: "abcd" })).toMatchObject({ status: 200, body: { bytes: 4 } });
    expect(await callJson("PUT", url, { body: "abcdefgh" })).toMatchObject({ status: 413, body: { declared: 8 } });
  });

  it("callJson resolves with a 4xx and a non-JSON body as they are, and rejects when nobody answers", async () => {
    const url = await serve(async (_req, res) => {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not here");
    });
    expect(await callJson("GET", url)).toEqual({ status: 404, text: "not here", json: false });
    await expect(callJson("GET", "http://127.0.0.1:1/")).rejects.toThrow(/ECONNREFUSED/);
  });

  it("reads an HTTP address in both forms a --json line may carry: host:port and http://host:port", () => {
    for (const a of ["127.0.0.1:17100", "http://127.0.0.1:17100", "http://127.0.0.1:17100/", " localhost:80 ", "[::1]:8080", "http://[::1]:8080"]) {
      expect(hostPortOf(a)).toBe(a.trim().replace(/^http:\/\//, "").replace(/\/$/, ""));
      expect(httpBaseOf(a)).toBe(`http://${hostPortOf(a)}`);
    }
    for (const bad of ["", "127.0.0.1", "https://127.0.0.1:1", "http://127.0.0.1:1/v1/kv", "ftp://a:1", "a:70000", "a b:1"]) expect(hostPortOf(bad)).toBeUndefined();
  });
});
