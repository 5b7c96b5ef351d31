/**
 * The subset of etcd's v3 gRPC API that etcdctl 3.4 and the `etcd3` npm
 * client use: KV (Range, Put, DeleteRange, Txn), Watch, Cluster.MemberList
 * and Maintenance (Status, Alarm: `endpoint health` reads the alarm list).
 *
 * The .proto files in ./proto were written for raft-kv with etcd's field
 * numbers, so etcd's own clients speak to it unchanged. Every response
 * carries etcd's header (cluster id, member id, revision, raft term); errors
 * carry etcd's messages ("etcdserver: no leader"...) and status codes, which
 * clients match on. Requests are validated before they reach the log.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { GrpcServer, GrpcStatus, type BidiCall, type GrpcFailure, type GrpcMethod } from "./grpc-server.ts";
import {
  DEFAULT_LIMITS,
  checkOp,
  type Compare,
  type KeyValue,
  type KvEvent,
  type RangeRequest,
  type RequestLimits,
  type RequestOp,
  type ResponseOp,
  type WriteOp,
} from "../core/kv/index.ts";
import type { RaftKvNode, WatchHandle } from "./kv-node.ts";
import type { HeaderInfo } from "./node-info.ts";
import { ServerError } from "../core/replica/errors.ts";

/** Where the .proto files live (shipped with the sources). */
export const PROTO_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "proto");

/** The etcd version raft-kv reports in Maintenance.Status: the API level it follows, marked as ours. */
export const REPORTED_VERSION = "3.4.0+heck-raft";

/** proto-loader options shared by the server and raft-kv's own gRPC clients (bench, tests). */
export const PROTO_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] };

/** Loads the etcd subset as a grpc-js package definition. */
export function loadEtcdProto(): grpc.GrpcObject {
  const def = protoLoader.loadSync(["rpc.proto"], PROTO_OPTIONS);
  return grpc.loadPackageDefinition(def);
}

type Obj = Record<string, unknown>;

class InvalidRequest extends ServerError {
  constructor(field: string, message: string) {
    super("invalid_argument", `${field}: ${message}`, { field });
  }
}

function bytesField(o: Obj, field: string, prefix: string): Uint8Array {
  const v = o[field];
  if (v === undefined || v === null) return new Uint8Array(0);
  if (!(v instanceof Uint8Array)) throw new InvalidRequest(prefix + field, "must be bytes");
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
}

function int64Field(o: Obj, field: string, prefix: string): number {
  const v = o[field];
  if (v === undefined || v === null || v === "") return 0;
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidRequest(prefix + field, `must be a non-negative integer below 2^53, got ${String(v)}`);
  return n;
}

function boolField(o: Obj, field: string): boolean {
  return o[field] === true;
}

function sub(o: Obj, field: string): Obj {
  const v = o[field];
  return typeof v === "object" && v !== null ? (v as Obj) : {};
}

function emptyToUndefined(b: Uint8Array): Uint8Array | undefined {
  return b.length === 0 ? undefined : b;
}

const SORT_ORDERS: Record<string, RangeRequest["sortOrder"]> = { NONE: "none", ASCEND: "ascend", DESCEND: "descend" };
const SORT_TARGETS: Record<string, RangeRequest["sortTarget"]> = { KEY: "key", VERSION: "version", CREATE: "create", MOD: "mod", VALUE: "value" };
const COMPARE_RESULTS: Record<string, Compare["result"]> = { EQUAL: "equal", GREATER: "greater", LESS: "less", NOT_EQUAL: "not_equal" };

/** etcd's RangeRequest → ours. */
export function parseRange(o: Obj, prefix = ""): RangeRequest {
  const sortOrder = SORT_ORDERS[String(o.sort_order ?? "NONE")];
  const sortTarget = SORT_TARGETS[String(o.sort_target ?? "KEY")];
  if (!sortOrder) throw new InvalidRequest(`${prefix}sort_order`, `unknown value ${String(o.sort_order)}`);
  if (!sortTarget) throw new InvalidRequest(`${prefix}sort_target`, `unknown value ${String(o.sort_target)}`);
  const q: RangeRequest = {
    key: bytesField(o, "key", prefix),
    limit: int64Field(o, "limit", prefix),
    revision: int64Field(o, "revision", prefix),
    sortOrder,
    sortTarget,
    serializable: boolField(o, "serializable"),
    keysOnly: boolField(o, "keys_only"),
    countOnly: boolField(o, "count_only"),
    minModRevision: int64Field(o, "min_mod_revision", prefix),
    maxModRevision: int64Field(o, "max_mod_revision", prefix),
    minCreateRevision: int64Field(o, "min_create_revision", prefix),
    maxCreateRevision: int64Field(o, "max_create_revision", prefix),
  };
  const end = emptyToUndefined(bytesField(o, "range_end", prefix));
  if (end) q.rangeEnd = end;
  return q;
}

function parsePut(o: Obj, prefix = ""): Extract<RequestOp, { type: "put" }> {
  if (int64Field(o, "lease", prefix) !== 0) throw new ServerError("not_found", "etcdserver: requested lease not found (raft-kv has no leases)", { field: `${prefix}lease` });
  return { type: "put", key: bytesField(o, "key", prefix), value: bytesField(o, "value", prefix), prevKv: boolField(o, "prev_kv"), ignoreValue: boolField(o, "ignore_value") };
}

function parseDelete(o: Obj, prefix = ""): Extract<RequestOp, { type: "delete" }> {
  const end = emptyToUndefined(bytesField(o, "range_end", prefix));
  const d: Extract<RequestOp, { type: "delete" }> = { type: "delete", key: bytesField(o, "key", prefix), prevKv: boolField(o, "prev_kv") };
  if (end) d.rangeEnd = end;
  return d;
}

function parseCompare(o: Obj, prefix: string): Compare {
  const result = COMPARE_RESULTS[String(o.result ?? "EQUAL")];
  if (!result) throw new InvalidRequest(`${prefix}result`, `unknown value ${String(o.result)}`);
  const key = bytesField(o, "key", prefix);
  const end = emptyToUndefined(bytesField(o, "range_end", prefix));
  const base = end ? { key, rangeEnd: end, result } : { key, result };
  switch (String(o.target ?? "VERSION")) {
    case "VALUE":
      return { ...base, target: "value", value: bytesField(o, "value", prefix) };
    case "VERSION":
      return { ...base, target: "version", value: int64Field(o, "version", prefix) };
    case "CREATE":
      return { ...base, target: "create", value: int64Field(o, "create_revision", prefix) };
    case "MOD":
      return { ...base, target: "mod", value: int64Field(o, "mod_revision", prefix) };
    case "LEASE":
      return { ...base, target: "lease", value: int64Field(o, "lease", prefix) };
    default:
      throw new InvalidRequest(`${prefix}target`, `unknown value ${String(o.target)}`);
  }
}

function parseRequestOp(o: Obj, prefix: string, depth: number): RequestOp {
  switch (o.request) {
    case "request_range":
      return { type: "range", ...parseRange(sub(o, "request_range"), `${prefix}request_range.`) };
    case "request_put":
      return parsePut(sub(o, "request_put"), `${prefix}request_put.`);
    case "request_delete_range":
      return parseDelete(sub(o, "request_delete_range"), `${prefix}request_delete_range.`);
    case "request_txn":
      return parseTxn(sub(o, "request_txn"), `${prefix}request_txn.`, depth + 1);
    default:
      throw new InvalidRequest(`${prefix}request`, "a RequestOp must set one of request_range, request_put, request_delete_range, request_txn");
  }
}

/** etcd's TxnRequest → ours. */
export function parseTxn(o: Obj, prefix = "", depth = 0): Extract<RequestOp, { type: "txn" }> {
  if (depth > 8) throw new InvalidRequest(prefix || "txn", "transactions nested deeper than 8");
  const list = (field: string): Obj[] => {
    const v = o[field];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw new InvalidRequest(prefix + field, "must be repeated");
    return v as Obj[];
  };
  return {
    type: "txn",
    compare: list("compare").map((c, i) => parseCompare(c, `${prefix}compare[${i}].`)),
    success: list("success").map((x, i) => parseRequestOp(x, `${prefix}success[${i}].`, depth)),
    failure: list("failure").map((x, i) => parseRequestOp(x, `${prefix}failure[${i}].`, depth)),
  };
}

function kvOut(kv: KeyValue): Obj {
  return { key: Buffer.from(kv.key), value: Buffer.from(kv.value), create_revision: kv.createRevision, mod_revision: kv.modRevision, version: kv.version, lease: 0 };
}

/** uint64 ids as protobufjs's {low, high} form, computed once: as decimal strings they were parsed again on every response. */
const uint64Cache = new Map<bigint, { low: number; high: number; unsigned: true }>();
function uint64(v: bigint): { low: number; high: number; unsigned: true } {
  let out = uint64Cache.get(v);
  if (!out) {
    out = { low: Number(v & 0xffffffffn) | 0, high: Number((v >> 32n) & 0xffffffffn) | 0, unsigned: true };
    if (uint64Cache.size < 64) uint64Cache.set(v, out);
  }
  return out;
}

function headerOut(h: HeaderInfo, revision?: number): Obj {
  return { cluster_id: uint64(h.clusterId), member_id: uint64(h.memberId), revision: revision ?? h.revision, raft_term: h.raftTerm };
}

function responseOpOut(r: ResponseOp, h: HeaderInfo, revision: number): Obj {
  const header = headerOut(h, revision);
  switch (r.type) {
    case "range":
      return { response: "response_range", response_range: { header, kvs: r.kvs.map(kvOut), more: r.more, count: r.count } };
    case "put":
      return { response: "response_put", response_put: r.prevKv ? { header, prev_kv: kvOut(r.prevKv) } : { header } };
    case "delete":
      return { response: "response_delete_range", response_delete_range: { header, deleted: r.deleted, prev_kvs: r.prevKvs.map(kvOut) } };
    case "txn":
      return { response: "response_txn", response_txn: { header, succeeded: r.succeeded, responses: r.responses.map((x) => responseOpOut(x, h, revision)) } };
  }
}

function eventOut(e: KvEvent): Obj {
  const out: Obj = { type: e.type === "put" ? "PUT" : "DELETE", kv: kvOut(e.kv) };
  if (e.prevKv) out.prev_kv = kvOut(e.prevKv);
  return out;
}

/** Maps a failure to etcd's gRPC status and message (clients match on both). */
export function toGrpcError(error: unknown): GrpcFailure {
  const make = (code: number, details: string): GrpcFailure => ({ code, details });
  if (!(error instanceof ServerError)) return make(GrpcStatus.UNKNOWN, error instanceof Error ? error.message : String(error));
  const m = error.message;
  switch (error.code) {
    case "invalid_argument":
      if (/duplicate key/.test(m)) return make(GrpcStatus.INVALID_ARGUMENT, "etcdserver: duplicate key given in txn request");
      return make(GrpcStatus.INVALID_ARGUMENT, `etcdserver: ${m}`);
    case "too_large":
      return make(GrpcStatus.INVALID_ARGUMENT, `etcdserver: request is too large (${m})`);
    case "not_found":
      return make(GrpcStatus.INVALID_ARGUMENT, m.startsWith("etcdserver:") ? m : "etcdserver: key not found");
    case "no_leader":
      return make(GrpcStatus.UNAVAILABLE, "etcdserver: no leader");
    case "not_leader":
      return make(GrpcStatus.UNAVAILABLE, "etcdserver: not leader");
    case "timeout":
      return make(GrpcStatus.UNAVAILABLE, "etcdserver: request timed out");
    case "proposal_dropped":
      return make(GrpcStatus.UNAVAILABLE, "etcdserver: request timed out, possibly due to previous leader failure");
    case "busy":
      return make(GrpcStatus.RESOURCE_EXHAUSTED, "etcdserver: too many requests");
    case "compacted":
      return make(GrpcStatus.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted");
    case "future_revision":
      return make(GrpcStatus.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision");
    case "stopped":
      return make(GrpcStatus.UNAVAILABLE, "etcdserver: server stopped");
    case "removed":
      return make(GrpcStatus.FAILED_PRECONDITION, "etcdserver: the member has been permanently removed from the cluster");
    case "unknown_member":
      return make(GrpcStatus.NOT_FOUND, "etcdserver: member not found");
    default:
      return make(GrpcStatus.UNKNOWN, `etcdserver: ${m}`);
  }
}

/** Options of {@link GrpcApi.start}. */
export interface GrpcApiOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  limits?: RequestLimits;
}

type Service = Record<string, GrpcMethod<Obj, Obj>>;

/** etcd's v3 gRPC API (subset) for one node. */
export class GrpcApi {
  private readonly server: GrpcServer;
  private readonly limits: RequestLimits;
  private boundPort = 0;
  private readonly calls = new Set<BidiCall<Obj, Obj>>();

  private constructor(
    private readonly node: RaftKvNode,
    private readonly host: string,
    limits: RequestLimits,
  ) {
    this.limits = limits;
    // etcd allows max-request-bytes plus 512 KiB of gRPC overhead.
    this.server = new GrpcServer({ maxReceiveMessageBytes: limits.maxRequestBytes + 512 * 1024, toFailure: toGrpcError });
    const pkg = loadEtcdProto() as unknown as { etcdserverpb: Record<string, { service: Service }> };
    const service = (name: string): Service => pkg.etcdserverpb[name]!.service;
    const kv = service("KV");
    this.server.addUnary(kv.Range!, (r) => this.range(r));
    this.server.addUnary(kv.Put!, (r) => this.put(r));
    this.server.addUnary(kv.DeleteRange!, (r) => this.deleteRange(r));
    this.server.addUnary(kv.Txn!, (r) => this.txn(r));
    this.server.addBidi(service("Watch").Watch!, (call) => this.watch(call));
    this.server.addUnary(service("Cluster").MemberList!, async () => this.memberList());
    const maintenance = service("Maintenance");
    this.server.addUnary(maintenance.Status!, async () => this.statusResponse());
    this.server.addUnary(maintenance.Alarm!, async (r) => {
      if (r.action !== undefined && r.action !== "GET") throw new ServerError("invalid_argument", "action: raft-kv raises no alarms, so only GET is supported", { field: "action" });
      return { header: headerOut(this.node.header()), alarms: [] };
    });
  }

  /** Binds and starts serving. */
  static async start(node: RaftKvNode, options: GrpcApiOptions): Promise<GrpcApi> {
    const api = new GrpcApi(node, options.host, options.limits ?? DEFAULT_LIMITS);
    api.boundPort = await api.server.listen(options.host, options.port);
    return api;
  }

  /** The bound address, host:port. */
  get address(): string {
    return `${this.host}:${this.boundPort}`;
  }

  /** Stops at once, ending open watch streams. */
  async close(): Promise<void> {
    for (const c of this.calls) c.end();
    this.server.close();
  }

  private checked<T extends RequestOp>(op: T): T {
    const e = checkOp(op, this.limits, op.type === "txn" ? "txn" : "");
    if (e) throw new ServerError(e.tooLarge ? "too_large" : "invalid_argument", e.message.replace(/^\./, ""), { field: e.field.replace(/^\./, "") });
    return op;
  }

  private async range(r: Obj): Promise<Obj> {
    const q = parseRange(r);
    if (q.key.length === 0) throw new ServerError("invalid_argument", "key: must not be empty (etcdserver: key is not provided)", { field: "key" });
    const res = await this.node.range(q, !q.serializable);
    return { header: headerOut(this.node.header(), res.revision), kvs: res.response.kvs.map(kvOut), more: res.response.more, count: res.response.count };
  }

  private async put(r: Obj): Promise<Obj> {
    const op = this.checked(parsePut(r));
    const res = await this.node.write(op);
    const out: Obj = { header: headerOut(this.node.header(), res.revision) };
    if (res.response.type === "put" && res.response.prevKv) out.prev_kv = kvOut(res.response.prevKv);
    return out;
  }

  private async deleteRange(r: Obj): Promise<Obj> {
    const op = this.checked(parseDelete(r));
    const res = await this.node.write(op);
    if (res.response.type !== "delete") throw new Error("unexpected response");
    return { header: headerOut(this.node.header(), res.revision), deleted: res.response.deleted, prev_kvs: res.response.prevKvs.map(kvOut) };
  }

  private async txn(r: Obj): Promise<Obj> {
    const op = this.checked(parseTxn(r)) as WriteOp;
    const res = await this.node.write(op);
    if (res.response.type !== "txn") throw new Error("unexpected response");
    const h = this.node.header();
    return { header: headerOut(h, res.revision), succeeded: res.response.succeeded, responses: res.response.responses.map((x) => responseOpOut(x, h, res.revision)) };
  }

  private memberList(): Obj {
    return {
      header: headerOut(this.node.header()),
      members: this.node.members().map((m) => ({ ID: m.memberId.toString(), name: m.id, peerURLs: m.peerAddress ? [`http://${m.peerAddress}`] : [], clientURLs: m.clientUrls, isLearner: m.learner })),
    };
  }

  private statusResponse(): Obj {
    const s = this.node.status();
    const leader = this.node.members().find((m) => m.id === s.leader);
    return {
      header: headerOut(this.node.header()),
      version: REPORTED_VERSION,
      dbSize: s.dbSizeBytes,
      dbSizeInUse: s.dbSizeBytes,
      leader: leader ? leader.memberId.toString() : "0",
      raftIndex: s.commitIndex,
      raftTerm: s.term,
      raftAppliedIndex: s.appliedIndex,
      errors: [],
      isLearner: s.members.some((m) => m.id === s.id && m.learner),
    };
  }

  /** etcd's Watch: a stream of create/cancel/progress requests; responses carry the watch id. */
  private watch(call: BidiCall<Obj, Obj>): void {
    this.calls.add(call);
    const handles = new Map<number, WatchHandle>();
    let nextId = 0;
    const write = (msg: Obj) => call.write(msg);
    const cleanup = () => {
      for (const h of handles.values()) h.cancel();
      handles.clear();
      this.calls.delete(call);
    };
    call.onMessage((req) => {
      try {
        if (req.request_union === "create_request") {
          const c = sub(req, "create_request");
          const requested = int64Field(c, "watch_id", "create_request.");
          const id = requested > 0 ? requested : nextId;
          if (handles.has(id)) throw new InvalidRequest("create_request.watch_id", `watch id ${id} already in use on this stream`);
          nextId = Math.max(nextId, id) + 1;
          const key = bytesField(c, "key", "create_request.");
          if (key.length === 0) throw new InvalidRequest("create_request.key", "must not be empty");
          const rangeEnd = emptyToUndefined(bytesField(c, "range_end", "create_request."));
          const filters = Array.isArray(c.filters) ? (c.filters as unknown[]).map(String) : [];
          write({ header: headerOut(this.node.header()), watch_id: id, created: true });
          const handle = this.node.watch(
            {
              key,
              ...(rangeEnd ? { rangeEnd } : {}),
              startRevision: int64Field(c, "start_revision", "create_request."),
              prevKv: boolField(c, "prev_kv"),
              noPut: filters.includes("NOPUT"),
              noDelete: filters.includes("NODELETE"),
            },
            (events, revision) => write({ header: headerOut(this.node.header(), revision), watch_id: id, events: events.map(eventOut) }),
            (reason, compactRevision) => {
              handles.delete(id);
              write({ header: headerOut(this.node.header()), watch_id: id, canceled: true, compact_revision: compactRevision, cancel_reason: compactRevision > 0 ? "etcdserver: mvcc: required revision has been compacted" : reason });
            },
          );
          handles.set(id, handle);
        } else if (req.request_union === "cancel_request") {
          const id = int64Field(sub(req, "cancel_request"), "watch_id", "cancel_request.");
          handles.get(id)?.cancel();
          handles.delete(id);
          write({ header: headerOut(this.node.header()), watch_id: id, canceled: true });
        } else if (req.request_union === "progress_request") {
          // etcd answers a progress request with watch id -1 and the current revision.
          write({ header: headerOut(this.node.header()), watch_id: -1 });
        } else {
          throw new InvalidRequest("request_union", "a WatchRequest must set create_request, cancel_request or progress_request");
        }
      } catch (error) {
        // A bad request ends the whole stream with its status, as etcd does.
        cleanup();
        call.end(toGrpcError(error));
      }
    });
    // The client half-closed: it will create no more watches, so end ours (etcd does the same).
    call.onHalfClose(() => {
      cleanup();
      call.end();
    });
    call.onCancel(cleanup);
  }
}
