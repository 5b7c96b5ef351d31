/**
 * The HTTP API of a node (JSON over HTTP/1.1):
 *
 *   PUT    /v1/kv/<key>          body = the value (raw text; JSON when Content-Type is application/json)
 *                                ?mode=lww|mv  ?ts=<number>  ?context=<token> (or header X-Heck-Context)
 *   GET    /v1/kv/<key>          {key, mode, exists, value, values, siblings, context}; 404 when absent
 *   DELETE /v1/kv/<key>          ?mode  ?ts  ?context
 *   GET    /v1/kv?prefix=&limit= {keys}
 *   GET    /v1/status            vector, peers, bytes sent, sizes, faults, malformed input refused
 *   GET    /v1/health            {ok, id}
 *   POST   /v1/admin/faults      {"block": [addr...]} | {"unblockAll": true} | {"dropRate": 0.1}: the transport's fault layer
 *
 * Bad input gets a 4xx with {"error": "..."} naming the field; bodies over
 * the limit are refused with 413 before they are read into memory. A
 * refused request never reaches the store.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { applyFaultCommand, parseFaultCommand } from "@heck/sim";
import { countUnparsableRequests, isMalformedStatus, readBody as readBodyUnder, sendJson } from "@heck/sim/http";
import { dotKey } from "../core/causality/dot.ts";
import type { CausalContext } from "../core/causality/causal-context.ts";
import type { Json } from "../core/json.ts";
import type { ReadResult } from "../core/store/kv-state.ts";
import { contextToken, parseContextToken, type WriteResult } from "../core/store/node.ts";
import type { Mode } from "../core/store/version.ts";
import type { KvDriver } from "./driver.ts";

/** Options for {@link serveHttp}. */
export interface HttpOptions {
  host?: string;
  /** 0 picks a port. */
  port?: number;
  /** Largest request body. Default 1 MiB (the store's value limit). */
  maxBodyBytes?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** JSON form of a read. */
export function readJson(r: ReadResult): Record<string, unknown> {
  return {
    key: r.key,
    mode: r.mode,
    exists: r.exists,
    ...(r.value !== undefined ? { value: r.value } : {}),
    values: r.values,
    siblings: r.versions.map((v) => ({ dot: dotKey(v.dot), mode: v.mode, ...(v.mode === "lww" ? { ts: v.ts } : {}), ...(v.deleted ? { deleted: true } : { value: v.value }) })),
    context: contextToken(r.context),
  };
}

function writeJson(r: WriteResult): { status: number; body: Record<string, unknown> } {
  if (!r.ok) return { status: 400, body: { error: r.error } };
  if (!r.applied) return { status: 200, body: { key: r.key, applied: false, reason: r.reason } };
  return { status: 200, body: { key: r.key, applied: true, ...(r.dot !== null ? { dot: dotKey(r.dot) } : {}), context: contextToken(r.context) } };
}

/** A request body under `max` bytes (refused by its Content-Length when that already says more). */
async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  const body = await readBodyUnder(req, { maxBytes: max, checkDeclaredLength: true, destroyOnOverflow: true });
  if (body.ok) return body.bytes;
  throw new HttpError(413, body.declaredBytes !== undefined ? `body of ${body.declaredBytes} bytes exceeds the limit of ${max}` : `body exceeds the limit of ${max} bytes`);
}

function writeOptions(url: URL, req: http.IncomingMessage): { mode?: Mode; ts?: number; context?: CausalContext } {
  const out: { mode?: Mode; ts?: number; context?: CausalContext } = {};
  const mode = url.searchParams.get("mode");
  if (mode !== null) {
    if (mode !== "lww" && mode !== "mv") throw new HttpError(400, 'mode: expected "lww" or "mv"');
    out.mode = mode;
  }
  const ts = url.searchParams.get("ts");
  if (ts !== null) {
    const n = Number(ts);
    if (ts.trim() === "" || !Number.isFinite(n)) throw new HttpError(400, "ts: expected a finite number");
    out.ts = n;
  }
  const header = req.headers["x-heck-context"];
  const token = url.searchParams.get("context") ?? (typeof header === "string" ? header : null);
  if (token !== null) {
    const cc = parseContextToken(token);
    if (cc === undefined) throw new HttpError(400, 'context: expected a token like "a:3,b:7" (from a read)');
    out.context = cc;
  }
  return out;
}

function keyOf(pathname: string): string {
  try {
    return decodeURIComponent(pathname.slice("/v1/kv/".length));
  } catch {
    throw new HttpError(400, "key: malformed percent-encoding");
  }
}

/** Serves the API for `driver`; resolves once listening. */
export async function serveHttp(driver: KvDriver, options: HttpOptions = {}): Promise<{ server: http.Server; url: string; close(): Promise<void> }> {
  const maxBody = options.maxBodyBytes ?? driver.node.config.maxValueBytes;
  const handle = async (req: http.IncomingMessage): Promise<{ status: number; body: unknown }> => {
    const url = new URL(req.url ?? "/", "http://x");
    const p = url.pathname;
    const method = req.method ?? "GET";
    if (p === "/v1/health" && method === "GET") return { status: 200, body: { ok: true, id: driver.node.id } };
    if (p === "/v1/status" && method === "GET") return { status: 200, body: driver.status() };
    if (p === "/v1/admin/faults" && method === "POST") {
      const raw = await readBody(req, 64 * 1024);
      let json: unknown;
      try {
        json = JSON.parse(raw.toString("utf8"));
      } catch {
        throw new HttpError(400, "body: expected JSON");
      }
      const parsed = parseFaultCommand(json);
      if (!parsed.ok) throw new HttpError(400, parsed.error);
      return { status: 200, body: applyFaultCommand(driver.transport, parsed.command) };
    }
    if (p === "/v1/kv" && method === "GET") {
      const limitText = url.searchParams.get("limit");
      const limit = limitText === null ? 1000 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new HttpError(400, "limit: expected an integer 1..100000");
      return { status: 200, body: { keys: driver.list(url.searchParams.get("prefix") ?? "", limit) } };
    }
    if (p.startsWith("/v1/kv/")) {
      const key = keyOf(p);
      if (method === "GET") {
        const r = driver.get(key);
        return { status: r.exists ? 200 : 404, body: readJson(r) };
      }
      if (method === "PUT") {
        const opts = writeOptions(url, req);
        const raw = await readBody(req, maxBody);
        let text: string;
        try {
          text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
        } catch {
          throw new HttpError(400, "body: not valid UTF-8");
        }
        let value: Json = text;
        if ((req.headers["content-type"] ?? "").startsWith("application/json")) {
          try {
            value = JSON.parse(text) as Json;
          } catch {
            throw new HttpError(400, "body: Content-Type is application/json but the body is not JSON");
          }
        }
        return writeJson(driver.put(key, value, opts));
      }
      if (method === "DELETE") return writeJson(driver.delete(key, writeOptions(url, req)));
      throw new HttpError(405, `method ${method} not allowed on /v1/kv/<key>`);
    }
    throw new HttpError(404, `no route for ${method} ${p}`);
  };
  const server = http.createServer((req, res) => {
    handle(req).then(
      ({ status, body }) => {
        // A write the store refused for a bad key or value is a 400 too.
        if (isMalformedStatus(status)) driver.countMalformedRequest();
        sendJson(res, status, body, { newline: true });
      },
      (e: unknown) => {
        const status = e instanceof HttpError ? e.status : 500;
        if (isMalformedStatus(status)) driver.countMalformedRequest();
        sendJson(res, status, { error: (e as Error).message }, { newline: true, ...(status === 413 ? { headers: { connection: "close" } } : {}) });
      },
    );
  });
  countUnparsableRequests(server, () => driver.countMalformedRequest());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const a = server.address() as AddressInfo;
  return {
    server,
    url: `http://${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
