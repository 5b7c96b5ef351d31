/**
 * The JSON HTTP API: the simplest way to talk to raft-kv (curl is enough).
 *
 *     PUT    /v1/kv/:key            {"value": "..."}  (+ ifValue / ifVersion / ifModRevision / ifCreateRevision: compare-and-set)
 *     GET    /v1/kv/:key            ?consistency=linearizable (default) | serializable
 *     DELETE /v1/kv/:key            ?prefix=true  ?ifModRevision=n
 *     GET    /v1/kv?prefix=app/     ?limit=n &keysOnly=true &consistency=...
 *     POST   /v1/txn                etcd-style compare / success / failure
 *     GET    /v1/watch?prefix=...   &fromRevision=n  (newline-delimited JSON stream)
 *     POST   /v1/sessions           a client session for exactly-once retries (dissertation §6.3)
 *     GET    /v1/status, /v1/health, /v1/members;  POST /v1/members;  DELETE /v1/members/:id
 *                                (status's `malformed` counts refused input: peer frames, gRPC and HTTP requests)
 *     POST   /v1/leader {"to": id}  leadership transfer;  GET|POST /v1/faults  partitions for experiments
 *     leases, locks, elections and authentication: see http-coordination.ts
 *
 * Writes on a follower are forwarded to the leader inside the cluster;
 * membership and leadership calls are proxied to the leader's HTTP API.
 * Bodies are validated field by field; errors are `{"error": {"code",
 * "message", "field"?}}` with a fitting status.
 */
import http from "node:http";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { Agent, fetch as undiciFetch } from "undici";
import type { AddressInfo } from "node:net";
import { countUnparsableRequests, readBody, sendJson } from "@heck/sim/http";
import {
  DEFAULT_LIMITS,
  checkKey,
  checkOp,
  checkValue,
  fromUtf8,
  isValidUtf8,
  prefixRangeEnd,
  utf8,
  type Compare,
  type KeyValue,
  type KvEvent,
  type RequestLimits,
  type RequestOp,
  type ResponseOp,
  type SessionTag,
  type WriteOp,
} from "../core/kv/index.ts";
import type { RaftKvNode } from "./kv-node.ts";
import { ServerError, httpStatusOf, isMalformedRequest } from "../core/replica/errors.ts";
import type { MemberServices } from "./grpc-api.ts";
import type { ServerTls } from "./grpc-server.ts";
import { handleCoordination } from "./http-coordination.ts";

/** Options of {@link startHttpApi}. */
export interface HttpApiOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  limits?: RequestLimits;
  /** Serve HTTPS (the same certificate and client-certificate rules as the gRPC API). */
  tls?: ServerTls;
}

/** JSON shape of a key-value pair: text values as text, other bytes as base64 with `encoding`. */
export interface JsonKeyValue {
  key: string;
  value: string;
  encoding?: "base64";
  createRevision: number;
  modRevision: number;
  version: number;
}

/** Converts a KeyValue for JSON output. */
export function kvToJson(kv: KeyValue): JsonKeyValue {
  const text = isValidUtf8(kv.value);
  const out: JsonKeyValue = { key: fromUtf8(kv.key), value: text ? fromUtf8(kv.value) : Buffer.from(kv.value).toString("base64"), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
  if (!text) out.encoding = "base64";
  return out;
}

function eventToJson(e: KvEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { type: e.type, ...kvToJson(e.kv) };
  if (e.type === "delete") delete out.value;
  if (e.prevKv) out.prevKv = kvToJson(e.prevKv);
  return out;
}

function responseOpToJson(r: ResponseOp): Record<string, unknown> {
  switch (r.type) {
    case "range":
      return { type: "get", kvs: r.kvs.map(kvToJson), count: r.count, more: r.more };
    case "put":
      return r.prevKv ? { type: "put", prevKv: kvToJson(r.prevKv) } : { type: "put" };
    case "delete":
      return { type: "delete", deleted: r.deleted, prevKvs: r.prevKvs.map(kvToJson) };
    case "txn":
      return { type: "txn", succeeded: r.succeeded, responses: r.responses.map(responseOpToJson) };
  }
}

class BadRequest extends ServerError {}

/** A field check for request bodies and queries (shared with http-coordination.ts). */
export function bad(field: string, message: string): BadRequest {
  return new BadRequest("invalid_argument", message.startsWith(field) ? message : `${field}: ${message}`, { field });
}

/** A parsed JSON body. */
export type Json = Record<string, unknown>;

function asObject(value: unknown, field: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad(field, "must be a JSON object");
  return value as Json;
}

/** A field check for request bodies and queries (shared with http-coordination.ts). */
export function optString(body: Json, field: string, prefix = ""): string | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw bad(prefix + field, "must be a string");
  return v;
}

/** A field check for request bodies and queries (shared with http-coordination.ts). */
export function optBool(body: Json, field: string, prefix = ""): boolean | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw bad(prefix + field, "must be true or false");
  return v;
}

/** A field check for request bodies and queries (shared with http-coordination.ts). */
export function optUint(body: Json, field: string, prefix = ""): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw bad(prefix + field, "must be a non-negative integer");
  return v;
}

function decodeValue(text: string, encoding: string | undefined, field: string): Uint8Array {
  if (encoding === undefined || encoding === "utf8") return utf8(text);
  if (encoding !== "base64") throw bad(`${field}Encoding`, `must be "utf8" or "base64"`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw bad(field, "is not valid base64");
  return new Uint8Array(Buffer.from(text, "base64"));
}

/** A field check for request bodies and queries (shared with http-coordination.ts). */
export function queryUint(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return undefined;
  if (!/^\d{1,15}$/.test(v)) throw bad(name, "must be a non-negative integer");
  return Number(v);
}

/** A field check for request bodies and queries (shared with http-coordination.ts). */
export function queryBool(url: URL, name: string): boolean {
  const v = url.searchParams.get(name);
  if (v === null || v === "" || v === "false" || v === "0") return false;
  if (v === "true" || v === "1") return true;
  throw bad(name, "must be true or false");
}

function consistency(url: URL): boolean {
  const c = url.searchParams.get("consistency") ?? "linearizable";
  if (c !== "linearizable" && c !== "serializable") throw bad("consistency", `must be "linearizable" or "serializable"`);
  return c === "linearizable";
}

function sessionFrom(req: http.IncomingMessage): SessionTag | undefined {
  const id = req.headers["x-heck-client-id"];
  if (id === undefined) return undefined;
  const seq = req.headers["x-heck-seq"];
  const first = req.headers["x-heck-first-unacked"] ?? seq;
  const num = (v: string | string[] | undefined, name: string) => {
    if (typeof v !== "string" || !/^\d{1,15}$/.test(v)) throw bad(name, "header must be a positive integer");
    const n = Number(v);
    if (n < 1) throw bad(name, "header must be a positive integer");
    return n;
  };
  const tag = { clientId: num(id, "x-heck-client-id"), seq: num(seq, "x-heck-seq"), firstUnackedSeq: num(first, "x-heck-first-unacked") };
  if (tag.firstUnackedSeq > tag.seq) throw bad("x-heck-first-unacked", "must not exceed x-heck-seq");
  return tag;
}

/** Parses the `compare` array of a txn body (also used for CAS fields). */
function parseCompare(value: unknown, field: string): Compare {
  const c = asObject(value, field);
  const key = optString(c, "key", `${field}.`);
  if (key === undefined) throw bad(`${field}.key`, "is required");
  const target = optString(c, "target", `${field}.`) ?? "value";
  const result = optString(c, "result", `${field}.`) ?? "equal";
  if (!["equal", "not_equal", "greater", "less"].includes(result)) throw bad(`${field}.result`, `must be one of equal, not_equal, greater, less`);
  const base = { key: utf8(key), result: result as Compare["result"] };
  const prefix = optBool(c, "prefix", `${field}.`);
  const withRange = prefix ? { ...base, rangeEnd: prefixRangeEnd(base.key) } : base;
  if (target === "value") {
    const v = optString(c, "value", `${field}.`);
    if (v === undefined) throw bad(`${field}.value`, "is required");
    return { ...withRange, target: "value", value: decodeValue(v, optString(c, "encoding", `${field}.`), `${field}.value`) };
  }
  if (!["version", "create", "mod"].includes(target)) throw bad(`${field}.target`, `must be one of value, version, create, mod`);
  const n = optUint(c, "value", `${field}.`);
  if (n === undefined) throw bad(`${field}.value`, "is required");
  return { ...withRange, target: target as "version" | "create" | "mod", value: n };
}

function parseTxnOp(value: unknown, field: string): RequestOp {
  const o = asObject(value, field);
  const kind = optString(o, "op", `${field}.`);
  const key = optString(o, "key", `${field}.`);
  if (key === undefined) throw bad(`${field}.key`, "is required");
  const k = utf8(key);
  const prefix = optBool(o, "prefix", `${field}.`) ?? false;
  switch (kind) {
    case "get":
      return prefix ? { type: "range", key: k, rangeEnd: prefixRangeEnd(k) } : { type: "range", key: k };
    case "put": {
      const v = optString(o, "value", `${field}.`);
      if (v === undefined) throw bad(`${field}.value`, "is required for a put");
      return { type: "put", key: k, value: decodeValue(v, optString(o, "encoding", `${field}.`), `${field}.value`), prevKv: optBool(o, "prevKv", `${field}.`) ?? false };
    }
    case "delete":
      return prefix ? { type: "delete", key: k, rangeEnd: prefixRangeEnd(k), prevKv: optBool(o, "prevKv", `${field}.`) ?? false } : { type: "delete", key: k, prevKv: optBool(o, "prevKv", `${field}.`) ?? false };
    default:
      throw bad(`${field}.op`, `must be "get", "put" or "delete"`);
  }
}

function parseOps(value: unknown, field: string): RequestOp[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw bad(field, "must be an array");
  return value.map((v, i) => parseTxnOp(v, `${field}[${i}]`));
}

/** The JSON HTTP API of one node. */
export class HttpApi {
  private readonly server: http.Server | https.Server;
  private readonly limits: RequestLimits;
  /** Streams close() ends (watches, observers). */
  readonly openStreams = new Set<http.ServerResponse>();
  /** For proxying to the leader's HTTPS API: trusts our CA and shows our certificate, as any client must. */
  private readonly proxyAgent: Agent | undefined;
  private malformed = 0;

  private constructor(
    readonly node: RaftKvNode,
    readonly services: () => MemberServices,
    limits: RequestLimits,
    private readonly tls: ServerTls | undefined,
  ) {
    this.limits = limits;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((error: unknown) => this.fail(res, error));
    };
    this.server = tls ? https.createServer({ cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.clientCertAuth === true, rejectUnauthorized: tls.clientCertAuth === true }, handler) : http.createServer(handler);
    this.proxyAgent = tls ? new Agent({ connect: { ...(tls.ca ? { ca: tls.ca } : {}), cert: tls.cert, key: tls.key } }) : undefined;
    this.server.on("tlsClientError", () => {});
    this.server.keepAliveTimeout = 30_000;
    // Never let a bad client crash the process; bytes that are not HTTP are answered 400 and counted.
    countUnparsableRequests(this.server, () => this.malformed++);
  }

  /** Requests refused as malformed since start: not HTTP, a body that is not JSON or too large, a field that fails validation. */
  get malformedRequests(): number {
    return this.malformed;
  }

  /** Listens and resolves with the API; `address` is the bound host:port. */
  static async start(node: RaftKvNode, services: () => MemberServices, options: HttpApiOptions): Promise<HttpApi> {
    const api = new HttpApi(node, services, options.limits ?? DEFAULT_LIMITS, options.tls);
    await new Promise<void>((resolve, reject) => {
      api.server.once("error", reject);
      api.server.listen(options.port, options.host, () => {
        api.server.off("error", reject);
        resolve();
      });
    });
    return api;
  }

  /** The bound address, host:port. */
  get address(): string {
    const a = this.server.address() as AddressInfo;
    return `${a.address}:${a.port}`;
  }

  /** Stops listening and ends open watch streams. */
  async close(): Promise<void> {
    for (const r of this.openStreams) r.end();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    await this.proxyAgent?.close();
  }

  /** Sends a JSON answer (ends the response if headers already went out). */
  send(res: http.ServerResponse, status: number, body: unknown): void {
    sendJson(res, status, body, { replacer: (_k, v) => (typeof v === "bigint" ? v.toString() : v) });
  }

  private fail(res: http.ServerResponse, error: unknown): void {
    if (isMalformedRequest(error)) this.malformed++;
    if (error instanceof ServerError) {
      const body: Record<string, unknown> = { code: error.code, message: error.message };
      if (error.details.field) body.field = error.details.field;
      if (error.details.leader) body.leader = error.details.leader;
      if (error.details.leaderHttp) body.leaderHttp = error.details.leaderHttp;
      if (error.code === "no_leader" || error.code === "busy") res.setHeader("retry-after", "1");
      this.send(res, httpStatusOf(error.code), { error: body });
      return;
    }
    this.send(res, 500, { error: { code: "internal", message: error instanceof Error ? error.message : String(error) } });
  }

  /** Reads and parses a JSON body, within the size limit. */
  async readBody(req: http.IncomingMessage): Promise<Json> {
    // The body must be JSON whatever the content-type says: curl -d sends form-urlencoded by default.
    // Base64 values take 4/3 of their size, so the HTTP body limit allows for it.
    const limit = Math.ceil((this.limits.maxRequestBytes * 4) / 3) + 1024;
    const body = await readBody(req, { maxBytes: limit, checkDeclaredLength: true });
    if (!body.ok) {
      req.resume();
      throw new ServerError("too_large", body.declaredBytes !== undefined ? `body: ${body.declaredBytes} bytes exceeds the ${limit}-byte limit` : `body: more than ${limit} bytes`, { field: "body" });
    }
    const text = body.bytes.toString("utf8");
    if (text.trim() === "") return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new BadRequest("invalid_argument", `body: invalid JSON (${error instanceof Error ? error.message : String(error)})`, { field: "body" });
    }
    return asObject(parsed, "body");
  }

  private keyFromPath(raw: string): Uint8Array {
    let key: string;
    try {
      key = decodeURIComponent(raw);
    } catch {
      throw bad("key", "is not valid percent-encoding");
    }
    const k = utf8(key);
    const e = checkKey(k, this.limits);
    if (e) throw new ServerError(e.tooLarge ? "too_large" : "invalid_argument", e.message, { field: e.field });
    return k;
  }

  /**
   * The user a request acts as while auth is on: the token in its
   * `Authorization` header (as etcd's HTTP gateway takes it), else the common
   * name of its verified client certificate.
   */
  userOf(req: http.IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    const token = typeof header === "string" && header !== "" ? header.replace(/^Bearer\s+/i, "") : undefined;
    const socket = req.socket as TLSSocket;
    const cn = (): string | undefined => {
      if (!this.tls || typeof socket.getPeerCertificate !== "function" || !socket.authorized) return undefined;
      const subject = socket.getPeerCertificate().subject?.CN;
      return Array.isArray(subject) ? (subject[0] as string | undefined) : subject;
    };
    return this.services().auth.userOf(token, cn);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const p = url.pathname;
    const method = req.method ?? "GET";
    if (p.startsWith("/v1/kv/") && p.length > "/v1/kv/".length) {
      const key = this.keyFromPath(p.slice("/v1/kv/".length));
      if (method === "GET") return this.getKey(req, res, url, key);
      if (method === "PUT" || method === "POST") return this.putKey(req, res, key);
      if (method === "DELETE") return this.deleteKey(req, res, url, key);
      return this.methodNotAllowed(res, "GET, PUT, DELETE");
    }
    if (await handleCoordination(this, req, res, url)) return;
    switch (p) {
      case "/v1/kv":
        if (method !== "GET") return this.methodNotAllowed(res, "GET");
        return this.rangePrefix(req, res, url);
      case "/v1/txn":
        if (method !== "POST") return this.methodNotAllowed(res, "POST");
        return this.txn(req, res);
      case "/v1/watch":
        if (method !== "GET") return this.methodNotAllowed(res, "GET");
        return this.watch(req, res, url);
      case "/v1/sessions":
        if (method !== "POST") return this.methodNotAllowed(res, "POST");
        return this.send(res, 200, { clientId: await this.node.registerSession() });
      case "/v1/status":
        return this.send(res, 200, this.node.status());
      case "/v1/health": {
        const leader = this.node.leader;
        return this.send(res, leader ? 200 : 503, { health: leader !== null, leader });
      }
      case "/v1/members":
        if (method === "GET") return this.send(res, 200, { members: this.membersJson() });
        this.services().auth.checkAdmin(this.userOf(req));
        if (method === "POST") return this.addMember(req, res);
        return this.methodNotAllowed(res, "GET, POST");
      case "/v1/leader":
        if (method !== "POST") return this.methodNotAllowed(res, "POST");
        this.services().auth.checkAdmin(this.userOf(req));
        return this.transfer(req, res);
      case "/v1/faults":
        if (method === "GET") return this.send(res, 200, this.node.status().faults);
        if (method === "POST") {
          this.services().auth.checkAdmin(this.userOf(req));
          return this.faults(req, res);
        }
        return this.methodNotAllowed(res, "GET, POST");
    }
    if (p.startsWith("/v1/members/") && method === "DELETE") {
      this.services().auth.checkAdmin(this.userOf(req));
      return this.removeMember(req, res, decodeURIComponent(p.slice("/v1/members/".length)));
    }
    this.send(res, 404, { error: { code: "not_found", message: `no route ${method} ${p}` } });
  }

  /** 405 with the allowed methods. */
  methodNotAllowed(res: http.ServerResponse, allow: string): void {
    res.setHeader("allow", allow);
    this.send(res, 405, { error: { code: "method_not_allowed", message: `allowed: ${allow}` } });
  }

  private membersJson(): unknown[] {
    return this.node.members().map((m) => ({ ...m, memberId: m.memberId.toString(16) }));
  }

  private async getKey(req: http.IncomingMessage, res: http.ServerResponse, url: URL, key: Uint8Array): Promise<void> {
    this.services().auth.checkRead(this.userOf(req), key);
    const r = await this.node.range({ key }, consistency(url));
    const kv = r.response.kvs[0];
    if (!kv) throw new ServerError("not_found", `key ${fromUtf8(key)} not found`, { field: "key" });
    this.send(res, 200, { ...kvToJson(kv), revision: r.revision });
  }

  private async rangePrefix(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const prefix = url.searchParams.get("prefix") ?? "";
    const p = utf8(prefix);
    if (p.length > this.limits.maxKeyBytes) throw new ServerError("too_large", `prefix: longer than ${this.limits.maxKeyBytes} bytes`, { field: "prefix" });
    const key = p.length === 0 ? new Uint8Array([0]) : p;
    const rangeEnd = p.length === 0 ? new Uint8Array([0]) : prefixRangeEnd(p);
    this.services().auth.checkRead(this.userOf(req), key, rangeEnd);
    const r = await this.node.range({ key, rangeEnd, limit: queryUint(url, "limit") ?? 0, keysOnly: queryBool(url, "keysOnly") }, consistency(url));
    this.send(res, 200, { kvs: r.response.kvs.map(kvToJson), count: r.response.count, more: r.response.more, revision: r.revision });
  }

  private async putKey(req: http.IncomingMessage, res: http.ServerResponse, key: Uint8Array): Promise<void> {
    const body = await this.readBody(req);
    const session = sessionFrom(req);
    const text = optString(body, "value");
    if (text === undefined) throw bad("value", "is required (a string)");
    const value = decodeValue(text, optString(body, "encoding"), "value");
    const ve = checkValue(value, this.limits);
    if (ve) throw new ServerError("too_large", ve.message, { field: ve.field });
    const prevKv = optBool(body, "prevKv") ?? false;
    const lease = optUint(body, "lease") ?? 0;
    const user = this.userOf(req);
    const compares: Compare[] = [];
    const ifValue = optString(body, "ifValue");
    if (ifValue !== undefined) compares.push({ key, target: "value", result: "equal", value: decodeValue(ifValue, optString(body, "ifValueEncoding"), "ifValue") });
    for (const [field, target] of [
      ["ifVersion", "version"],
      ["ifModRevision", "mod"],
      ["ifCreateRevision", "create"],
    ] as const) {
      const n = optUint(body, field);
      if (n !== undefined) compares.push({ key, target, result: "equal", value: n });
    }
    for (const k of Object.keys(body)) {
      if (!["value", "encoding", "prevKv", "lease", "ifValue", "ifValueEncoding", "ifVersion", "ifModRevision", "ifCreateRevision"].includes(k)) throw bad(k, "unknown field");
    }
    const put: WriteOp = lease !== 0 ? { type: "put", key, value, prevKv, lease } : { type: "put", key, value, prevKv };
    if (compares.length === 0) {
      const r = await this.node.write(put, session, user);
      const out: Record<string, unknown> = { revision: r.revision };
      if (r.response.type === "put" && r.response.prevKv) out.prevKv = kvToJson(r.response.prevKv);
      if (r.duplicate) out.duplicate = true;
      return this.send(res, 200, out);
    }
    await this.compareAndWrite(res, key, compares, put, session, user);
  }

  private async compareAndWrite(res: http.ServerResponse, key: Uint8Array, compare: Compare[], op: WriteOp, session: SessionTag | undefined, user: string | undefined): Promise<void> {
    const r = await this.node.write({ type: "txn", compare, success: [op], failure: [{ type: "range", key }] }, session, user);
    if (r.response.type !== "txn") throw new Error("unexpected response");
    if (!r.response.succeeded) {
      const cur = r.response.responses[0];
      const current = cur?.type === "range" && cur.kvs[0] ? kvToJson(cur.kvs[0]) : null;
      return this.send(res, httpStatusOf("compare_failed"), { error: { code: "compare_failed", message: "a compare did not hold; nothing was written" }, current, revision: r.revision });
    }
    const inner = r.response.responses[0];
    const out: Record<string, unknown> = { revision: r.revision, succeeded: true };
    if (inner?.type === "put" && inner.prevKv) out.prevKv = kvToJson(inner.prevKv);
    if (inner?.type === "delete") out.deleted = inner.deleted;
    if (r.duplicate) out.duplicate = true;
    this.send(res, 200, out);
  }

  private async deleteKey(req: http.IncomingMessage, res: http.ServerResponse, url: URL, key: Uint8Array): Promise<void> {
    const session = sessionFrom(req);
    const prefix = queryBool(url, "prefix");
    const prevKv = queryBool(url, "prevKv");
    const op: WriteOp = prefix ? { type: "delete", key, rangeEnd: prefixRangeEnd(key), prevKv } : { type: "delete", key, prevKv };
    const compares: Compare[] = [];
    const ifMod = queryUint(url, "ifModRevision");
    if (ifMod !== undefined) compares.push({ key, target: "mod", result: "equal", value: ifMod });
    const ifVersion = queryUint(url, "ifVersion");
    if (ifVersion !== undefined) compares.push({ key, target: "version", result: "equal", value: ifVersion });
    const ifValue = url.searchParams.get("ifValue");
    if (ifValue !== null) compares.push({ key, target: "value", result: "equal", value: utf8(ifValue) });
    const user = this.userOf(req);
    if (compares.length > 0) return this.compareAndWrite(res, key, compares, op, session, user);
    const r = await this.node.write(op, session, user);
    if (r.response.type !== "delete") throw new Error("unexpected response");
    const out: Record<string, unknown> = { deleted: r.response.deleted, revision: r.revision };
    if (prevKv) out.prevKvs = r.response.prevKvs.map(kvToJson);
    if (r.duplicate) out.duplicate = true;
    this.send(res, 200, out);
  }

  private async txn(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await this.readBody(req);
    const session = sessionFrom(req);
    const rawCompare = body.compare ?? [];
    if (!Array.isArray(rawCompare)) throw bad("compare", "must be an array");
    const op: WriteOp = {
      type: "txn",
      compare: rawCompare.map((c, i) => parseCompare(c, `compare[${i}]`)),
      success: parseOps(body.success, "success"),
      failure: parseOps(body.failure, "failure"),
    };
    const e = checkOp(op, this.limits, "txn");
    if (e) throw new ServerError(e.tooLarge ? "too_large" : "invalid_argument", e.message, { field: e.field });
    const r = await this.node.write(op, session, this.userOf(req));
    if (r.response.type !== "txn") throw new Error("unexpected response");
    this.send(res, 200, { succeeded: r.response.succeeded, responses: r.response.responses.map(responseOpToJson), revision: r.revision, ...(r.duplicate ? { duplicate: true } : {}) });
  }

  private watch(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const prefix = url.searchParams.get("prefix");
    const keyText = url.searchParams.get("key");
    if ((prefix === null) === (keyText === null)) throw bad("key", "give exactly one of key= or prefix=");
    const k = utf8(prefix ?? keyText ?? "");
    const all = prefix !== null && k.length === 0;
    const key = all ? new Uint8Array([0]) : k;
    if (!all) {
      const e = checkKey(key, this.limits);
      if (e) throw bad(prefix !== null ? "prefix" : "key", e.message);
    }
    const rangeEnd = prefix === null ? undefined : all ? new Uint8Array([0]) : prefixRangeEnd(k);
    const startRevision = queryUint(url, "fromRevision") ?? 0;
    const prevKv = queryBool(url, "prevKv");
    this.services().auth.checkRead(this.userOf(req), key, rangeEnd);
    res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-cache" });
    res.write(JSON.stringify({ created: true, revision: this.node.header().revision }) + "\n");
    this.openStreams.add(res);
    const handle = this.node.watch(
      rangeEnd ? { key, rangeEnd, startRevision, prevKv } : { key, startRevision, prevKv },
      (events, revision) => {
        res.write(JSON.stringify({ revision, events: events.map(eventToJson) }) + "\n");
      },
      (reason, compactRevision) => {
        res.end(JSON.stringify({ canceled: true, reason, compactRevision }) + "\n");
      },
    );
    const done = () => {
      handle.cancel();
      this.openStreams.delete(res);
    };
    req.on("close", done);
    res.on("close", done);
  }

  /** Membership and leadership calls run on the leader; a follower proxies them there. */
  private async onLeader(req: http.IncomingMessage, res: http.ServerResponse, body: Json, local: () => Promise<unknown>): Promise<void> {
    const leader = this.node.leader;
    if (leader === this.node.id) {
      this.send(res, 200, await local());
      return;
    }
    const target = this.node.httpAddressOf(leader);
    if (!leader || !target) throw new ServerError("no_leader", "no leader with a known HTTP address; retry shortly", { leader });
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (typeof req.headers.authorization === "string") headers.authorization = req.headers.authorization;
    const init = { method: req.method ?? "POST", headers, body: req.method === "DELETE" ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(60_000) };
    const r = this.proxyAgent ? await undiciFetch(`https://${target}${req.url ?? ""}`, { ...init, dispatcher: this.proxyAgent }) : await fetch(`http://${target}${req.url ?? ""}`, init);
    const text = await r.text();
    res.writeHead(r.status, { "content-type": "application/json", "x-heck-forwarded-to": leader });
    res.end(text);
  }

  private async addMember(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await this.readBody(req);
    const id = optString(body, "id");
    const peerAddress = optString(body, "peerAddress");
    const learner = optBool(body, "learner") ?? false;
    if (!id) throw bad("id", "is required");
    if (!peerAddress) throw bad("peerAddress", "is required (host:port of the new member's peer listener)");
    await this.onLeader(req, res, body, async () => ({ members: (await this.node.addMember(id, peerAddress, learner)).map((m) => ({ ...m, memberId: m.memberId.toString(16) })) }));
  }

  private async removeMember(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<void> {
    if (!this.node.members().some((m) => m.id === id)) throw new ServerError("unknown_member", `no member with id ${JSON.stringify(id)}`, { field: "id" });
    await this.onLeader(req, res, {}, async () => ({ members: (await this.node.removeMember(id)).map((m) => ({ ...m, memberId: m.memberId.toString(16) })) }));
  }

  private async transfer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await this.readBody(req);
    const to = optString(body, "to");
    if (!to) throw bad("to", "is required");
    if (!this.node.members().some((m) => m.id === to && !m.learner)) throw new ServerError("unknown_member", `to: no voting member ${JSON.stringify(to)}`, { field: "to" });
    await this.onLeader(req, res, body, async () => {
      await this.node.transferLeadership(to);
      return { leader: to };
    });
  }

  private async faults(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await this.readBody(req);
    const ids = (field: string): string[] | undefined => {
      const v = body[field];
      if (v === undefined) return undefined;
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw bad(field, "must be an array of member ids");
      return v as string[];
    };
    const block = ids("block");
    const unblockAll = body.unblock === "all";
    const unblock = unblockAll ? undefined : ids("unblock");
    const dropRate = body.dropRate;
    if (dropRate !== undefined && (typeof dropRate !== "number" || !(dropRate >= 0 && dropRate <= 1))) throw bad("dropRate", "must be a number in [0, 1]");
    if (block) this.node.block(block);
    if (unblockAll) this.node.unblock();
    else if (unblock) this.node.unblock(unblock);
    if (typeof dropRate === "number") this.node.setDropRate(dropRate);
    this.send(res, 200, this.node.status().faults);
  }
}
