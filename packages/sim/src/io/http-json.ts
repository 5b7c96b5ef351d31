/**
 * JSON over HTTP, once for every stage: reading a request body with a size
 * limit, answering with JSON, and calling another process's JSON API.
 * Import as `@heck/sim/http` from drivers and CLIs (it opens no sockets of
 * its own; the servers and clients are the caller's).
 *
 * The server functions return typed results instead of throwing, so each
 * stage keeps its own error type and body shape (`{"error"}`, `{"error",
 * "errors"}`, a `field`), while the limits, the status codes and the
 * wording of the body errors are the same everywhere:
 *
 *   413  body: larger than <max> bytes
 *   415  body: send JSON with content-type: application/json   (when required)
 *   400  body: not valid JSON (<parser message>)
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { request } from "undici";

/** A request body read under a limit, or why not. */
export type BodyResult = { ok: true; bytes: Buffer } | { ok: false; status: 413; declaredBytes?: number };

/** Options of {@link readBody}. */
export interface ReadBodyOptions {
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  /** Refuse at once, before reading, when Content-Length already says the body is larger. */
  checkDeclaredLength?: boolean;
  /**
   * Past the limit, keep reading and discarding up to this many bytes in
   * all, so the client gets to read the 413 instead of a connection reset;
   * then cut the connection. Default: stop reading at the limit.
   */
  drainUpToBytes?: number;
  /** Cut the connection as soon as the limit is passed (the client's write may then fail). */
  destroyOnOverflow?: boolean;
}

/** Reads a whole request body, refusing (413) one over `maxBytes`. Never throws for a large body. */
export async function readBody(req: IncomingMessage, o: ReadBodyOptions): Promise<BodyResult> {
  if (o.checkDeclaredLength === true) {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > o.maxBytes) return { ok: false, status: 413, declaredBytes: declared };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > o.maxBytes) {
      if (o.destroyOnOverflow === true) {
        req.destroy();
        return { ok: false, status: 413 };
      }
      if (o.drainUpToBytes === undefined) return { ok: false, status: 413 };
      if (size > o.drainUpToBytes) {
        req.destroy();
        break;
      }
      continue;
    }
    chunks.push(chunk as Buffer);
  }
  if (size > o.maxBytes) return { ok: false, status: 413 };
  return { ok: true, bytes: Buffer.concat(chunks) };
}

/** A JSON request body, or the status and message to refuse it with. */
export type JsonBodyResult = { ok: true; value: unknown } | { ok: false; status: 400 | 413 | 415; error: string };

/** Options of {@link readJson}. */
export interface ReadJsonOptions extends Omit<ReadBodyOptions, "checkDeclaredLength" | "destroyOnOverflow"> {
  /** Refuse (415) a request whose content-type is not application/json. */
  requireJsonContentType?: boolean;
  /**
   * What a body with nothing but whitespace means: a value to use (`{}` for
   * "no arguments"), or the message to refuse it with (400). Default: it is
   * parsed like any other body, and refused as not valid JSON.
   */
  whenEmpty?: { value: unknown } | { error: string };
  /** Put the parser's message in the 400 (default true). */
  parserDetail?: boolean;
}

/** Reads and parses a JSON request body; see the file comment for the refusals. Never throws for bad input. */
export async function readJson(req: IncomingMessage, o: ReadJsonOptions): Promise<JsonBodyResult> {
  if (o.requireJsonContentType === true && !/^application\/json\b/.test(req.headers["content-type"] ?? "")) {
    return { ok: false, status: 415, error: "body: send JSON with content-type: application/json" };
  }
  const body = await readBody(req, o);
  if (!body.ok) return { ok: false, status: 413, error: `body: larger than ${o.maxBytes} bytes` };
  const text = body.bytes.toString("utf8");
  if (o.whenEmpty !== undefined && text.trim() === "") {
    return "value" in o.whenEmpty ? { ok: true, value: o.whenEmpty.value } : { ok: false, status: 400, error: o.whenEmpty.error };
  }
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, status: 400, error: o.parserDetail === false ? "body: not valid JSON" : `body: not valid JSON (${(e as Error).message})` };
  }
}

/**
 * Input a process dropped because it failed to decode or validate, counted
 * since start by the surface it came in on (`api`, `grpc`, `swim`, `peer`,
 * `gossip`, `store`). Every stage shows it as `malformed` beside its other
 * counters; packages/net's README lists each process's surfaces.
 */
export type MalformedCounts = Record<string, number>;

/**
 * Whether an HTTP status refuses a request as malformed: 400 (not JSON, a
 * field that fails validation) or 413 (too large). 401, 404, 405 and 5xx
 * answer well-formed requests and are not counted.
 */
export function isMalformedStatus(status: number): boolean {
  return status === 400 || status === 413;
}

/**
 * Makes `server` count connections whose bytes are not HTTP at all (Node's
 * parser fails before a request exists, so no handler sees them): each
 * calls `onMalformed`, gets Node's own answer (400, or 431 for headers too
 * large) and is closed. A connection that resets or times out before a
 * request is not malformed input: it gets Node's answer (408 for a
 * timeout) or is closed, uncounted.
 */
export function countUnparsableRequests(server: Pick<Server, "on">, onMalformed: () => void): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    const parseError = typeof error.code === "string" && error.code.startsWith("HPE_");
    if (parseError) onMalformed();
    // Node's own answers when no listener is installed: 431, 408, else 400 for what it could not parse.
    const answer = error.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : error.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : parseError ? "400 Bad Request" : undefined;
    if (answer === undefined || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(`HTTP/1.1 ${answer}\r\nConnection: close\r\n\r\n`);
  });
}

/** Options of {@link sendJson}. */
export interface SendJsonOptions {
  /** Extra or replaced response headers (e.g. a content-type with a charset, cache-control). */
  headers?: Record<string, string>;
  /** End the body with a newline, for humans reading it through curl. */
  newline?: boolean;
  /** A `JSON.stringify` replacer (e.g. bigints as strings). */
  replacer?: (key: string, value: unknown) => unknown;
}

/**
 * Answers with `body` as JSON (content-type application/json unless
 * replaced, and its content-length). If headers were already sent (an error
 * in the middle of a streamed answer), only ends the response.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, o: SendJsonOptions = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body, o.replacer) + (o.newline === true ? "\n" : "");
  res.writeHead(status, { "content-type": "application/json", ...o.headers, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** What {@link callJson} got back: the status, the body text, and the body parsed when it is JSON. */
export type JsonResponse = { status: number; text: string } & ({ json: true; body: unknown } | { json: false });

/** Options of {@link callJson}. */
export interface CallJsonOptions {
  /** The request body: a string is sent as is, anything else as JSON (with its content-type). */
  body?: unknown;
  headers?: Record<string, string>;
  /** Limit on waiting for the headers and, separately, for the body. Default 10 s. */
  timeoutMs?: number;
}

/**
 * Calls a JSON API. Resolves with whatever status came back (a 4xx is an
 * answer, not a failure), and rejects only when no answer came (connection
 * refused, timeout) with the client's own error.
 */
export async function callJson(method: "GET" | "PUT" | "POST" | "DELETE", url: string, o: CallJsonOptions = {}): Promise<JsonResponse> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const raw = o.body === undefined || typeof o.body === "string";
  const headers = { ...(raw ? {} : { "content-type": "application/json" }), ...o.headers };
  const res = await request(url, {
    method,
    ...(o.body !== undefined ? { body: raw ? (o.body as string) : JSON.stringify(o.body) } : {}),
    headers,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const text = await res.body.text();
  try {
    return { status: res.statusCode, text, json: true, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.statusCode, text, json: false };
  }
}

const ADDRESS = /^(?:http:\/\/)?(\[[^\]\s]+\]|[^\s/:[\]]+):(\d{1,5})\/?$/;

/**
 * `host:port` of an HTTP address given in either of the two forms the
 * project's `--json` lines and flags have carried: `host:port` (the
 * convention) or `http://host:port` (a trailing slash allowed). Undefined
 * for anything else, so callers can name the flag in their error.
 */
export function hostPortOf(address: string): string | undefined {
  const m = ADDRESS.exec(address.trim());
  if (m === null || Number(m[2]) > 65535) return undefined;
  return `${m[1]}:${m[2]}`;
}

/** The base URL (`http://host:port`) of an address in either form (see {@link hostPortOf}); undefined for anything else. */
export function httpBaseOf(address: string): string | undefined {
  const hp = hostPortOf(address);
  return hp === undefined ? undefined : `http://${hp}`;
}
