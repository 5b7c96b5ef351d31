/**
 * etcd's v3 gRPC API, as etcdctl 3.4 and the `etcd3` npm client use it: KV
 * and Watch here; Lease, Lock and Election in grpc-coordination.ts; Auth in
 * grpc-auth.ts; Cluster and Maintenance in grpc-admin.ts.
 *
 * The .proto files in ./proto were written for raft-kv with etcd's field
 * numbers, so etcd's own clients speak to it unchanged. Every response
 * carries etcd's header (cluster id, member id, revision, raft term); errors
 * carry etcd's messages ("etcdserver: no leader"...) and status codes, which
 * clients match on (grpc-errors.ts). Requests are validated before they reach
 * the log, and, while auth is on, carry the user their token names: reads are
 * checked here, writes by the state machine as they are applied.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { GrpcServer, type BidiCall, type CallContext, type GrpcFailure, type GrpcMethod, type ServerTls } from "./grpc-server.ts";
import { DEFAULT_LIMITS, checkOp, type Compare, type RangeRequest, type RequestLimits, type RequestOp, type ResponseOp, type WriteOp } from "../core/kv/index.ts";
import type { RaftKvNode, WatchHandle } from "./kv-node.ts";
import type { HeaderInfo } from "./node-info.ts";
import { ServerError, isMalformedRequest } from "../core/replica/errors.ts";
import { toGrpcError } from "./grpc-errors.ts";
import { InvalidRequest, boolField, bytesField, emptyToUndefined, eventOut, headerOut, int64Field, kvOut, sub, type Obj } from "./grpc-fields.ts";
import type { LeaseService } from "./leases.ts";
import type { AuthService } from "./auth.ts";
import { registerCoordination } from "./grpc-coordination.ts";
import { registerAuth } from "./grpc-auth.ts";
import { registerAdmin } from "./grpc-admin.ts";

/** Where the .proto files live (shipped with the sources). */
export const PROTO_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "proto");

/** The etcd version raft-kv reports in Maintenance.Status: the API level it follows, marked as ours. */
export const REPORTED_VERSION = "3.4.0+heck-raft";

/** proto-loader options shared by the server and raft-kv's own gRPC clients (bench, tests). */
export const PROTO_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] };

/** Loads etcd's services (etcdserverpb, v3lockpb, v3electionpb) as a grpc-js package definition. */
export function loadEtcdProto(): grpc.GrpcObject {
  const def = protoLoader.loadSync(["rpc.proto", "v3lock.proto", "v3election.proto"], PROTO_OPTIONS);
  return grpc.loadPackageDefinition(def);
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
  const put: Extract<RequestOp, { type: "put" }> = { type: "put", key: bytesField(o, "key", prefix), value: bytesField(o, "value", prefix), prevKv: boolField(o, "prev_kv"), ignoreValue: boolField(o, "ignore_value") };
  const lease = int64Field(o, "lease", prefix);
  const ignoreLease = boolField(o, "ignore_lease");
  // etcd's checkPutRequest: ignoring the value or the lease while giving one is a contradiction.
  if (put.ignoreValue && put.value.length > 0) throw new ServerError("value_provided", `${prefix}value: given with ignore_value`);
  if (ignoreLease && lease !== 0) throw new ServerError("lease_provided", `${prefix}lease: given with ignore_lease`);
  if (lease !== 0) put.lease = lease;
  if (ignoreLease) put.ignoreLease = true;
  return put;
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

/** Options of {@link GrpcApi.start}. */
export interface GrpcApiOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  limits?: RequestLimits;
  /** Serve over TLS (etcd's --cert-file, --key-file, --trusted-ca-file, --client-cert-auth). */
  tls?: ServerTls;
}

/** The member's services beyond the KV, which exist once its node runs. */
export interface MemberServices {
  leases: LeaseService;
  auth: AuthService;
}

/** What the service files need from the API: the node, the services, the user of a call, request checks. */
export interface GrpcApiContext {
  readonly node: RaftKvNode;
  services(): MemberServices;
  /** The user a call acts as (from its token or client certificate); undefined while auth is off. */
  userOf(context: CallContext): string | undefined;
  /** Checks a request op against the size limits, with etcd's errors. */
  checked<T extends RequestOp>(op: T): T;
  /** Remembers a stream so `close` ends it. */
  track(call: { end(): void }): () => void;
}

type Service = Record<string, GrpcMethod<Obj, Obj>>;

/** etcd's v3 gRPC API for one node. */
export class GrpcApi implements GrpcApiContext {
  private readonly server: GrpcServer;
  private readonly limits: RequestLimits;
  private boundPort = 0;
  private readonly streams = new Set<{ end(): void }>();
  private refusedFields = 0;

  private constructor(
    readonly node: RaftKvNode,
    private readonly memberServices: () => MemberServices,
    private readonly host: string,
    limits: RequestLimits,
    tls: ServerTls | undefined,
  ) {
    this.limits = limits;
    // etcd allows max-request-bytes plus 512 KiB of gRPC overhead.
    this.server = new GrpcServer({ maxReceiveMessageBytes: limits.maxRequestBytes + 512 * 1024, toFailure: (error) => this.failure(error), ...(tls ? { tls } : {}) });
    const pkg = loadEtcdProto() as unknown as Record<string, Record<string, { service: Service }>>;
    const service = (pkgName: string, name: string): Service => pkg[pkgName]![name]!.service;
    const kv = service("etcdserverpb", "KV");
    this.server.addUnary(kv.Range!, (r, ctx) => this.range(r, ctx));
    this.server.addUnary(kv.Put!, (r, ctx) => this.put(r, ctx));
    this.server.addUnary(kv.DeleteRange!, (r, ctx) => this.deleteRange(r, ctx));
    this.server.addUnary(kv.Txn!, (r, ctx) => this.txn(r, ctx));
    this.server.addUnary(kv.Compact!, (r, ctx) => this.compact(r, ctx));
    this.server.addBidi(service("etcdserverpb", "Watch").Watch!, (call, ctx) => this.watch(call, ctx));
    registerCoordination(this.server, this, { lease: service("etcdserverpb", "Lease"), lock: service("v3lockpb", "Lock"), election: service("v3electionpb", "Election") });
    registerAuth(this.server, this, service("etcdserverpb", "Auth"));
    registerAdmin(this.server, this, { cluster: service("etcdserverpb", "Cluster"), maintenance: service("etcdserverpb", "Maintenance") });
  }

  /** Binds and starts serving. `services` is asked for on each call that needs it (they start after the listener). */
  static async start(node: RaftKvNode, services: () => MemberServices, options: GrpcApiOptions): Promise<GrpcApi> {
    const api = new GrpcApi(node, services, options.host, options.limits ?? DEFAULT_LIMITS, options.tls);
    api.boundPort = await api.server.listen(options.host, options.port);
    return api;
  }

  /** The bound address, host:port. */
  get address(): string {
    return `${this.host}:${this.boundPort}`;
  }

  /** etcd's status for a failure, counting a request refused as malformed. */
  private failure(error: unknown): GrpcFailure {
    if (isMalformedRequest(error)) this.refusedFields++;
    return toGrpcError(error);
  }

  /** Requests refused as malformed since start: messages that are not gRPC or not the method's protobuf, and fields that fail validation. */
  get malformedRequests(): number {
    return this.server.malformedMessages + this.refusedFields;
  }

  /** Stops at once, ending open streams (watches, keep-alives, observers). */
  async close(): Promise<void> {
    for (const c of this.streams) c.end();
    this.server.close();
  }

  services(): MemberServices {
    return this.memberServices();
  }

  userOf(context: CallContext): string | undefined {
    const token = context.metadata.token;
    return this.memberServices().auth.userOf(typeof token === "string" ? token : undefined, () => context.peerCommonName);
  }

  track(call: { end(): void }): () => void {
    this.streams.add(call);
    return () => this.streams.delete(call);
  }

  checked<T extends RequestOp>(op: T): T {
    const e = checkOp(op, this.limits, op.type === "txn" ? "txn" : "");
    if (!e) return op;
    const code = e.reason === "empty_key" ? "empty_key" : e.reason === "too_many_ops" ? "too_many_ops" : e.tooLarge ? "too_large" : "invalid_argument";
    throw new ServerError(code, e.message.replace(/^\./, ""), { field: e.field.replace(/^\./, "") });
  }

  private async range(r: Obj, ctx: CallContext): Promise<Obj> {
    const q = parseRange(r);
    if (q.key.length === 0) throw new ServerError("empty_key", "key is not provided", { field: "key" });
    this.services().auth.checkRead(this.userOf(ctx), q.key, q.rangeEnd);
    const res = await this.node.range(q, !q.serializable);
    return { header: headerOut(this.node.header(), res.revision), kvs: res.response.kvs.map(kvOut), more: res.response.more, count: res.response.count };
  }

  private async put(r: Obj, ctx: CallContext): Promise<Obj> {
    const op = this.checked(parsePut(r));
    const res = await this.node.write(op, undefined, this.userOf(ctx));
    const out: Obj = { header: headerOut(this.node.header(), res.revision) };
    if (res.response.type === "put" && res.response.prevKv) out.prev_kv = kvOut(res.response.prevKv);
    return out;
  }

  private async deleteRange(r: Obj, ctx: CallContext): Promise<Obj> {
    const op = this.checked(parseDelete(r));
    const res = await this.node.write(op, undefined, this.userOf(ctx));
    if (res.response.type !== "delete") throw new Error("unexpected response");
    return { header: headerOut(this.node.header(), res.revision), deleted: res.response.deleted, prev_kvs: res.response.prevKvs.map(kvOut) };
  }

  private async txn(r: Obj, ctx: CallContext): Promise<Obj> {
    const op = this.checked(parseTxn(r)) as WriteOp;
    const res = await this.node.write(op, undefined, this.userOf(ctx));
    if (res.response.type !== "txn") throw new Error("unexpected response");
    const h = this.node.header();
    return { header: headerOut(h, res.revision), succeeded: res.response.succeeded, responses: res.response.responses.map((x) => responseOpOut(x, h, res.revision)) };
  }

  /**
   * etcd's Compact: forgets watch history below the revision. raft-kv keeps
   * no old versions of keys (reads are of the current state only), so this
   * is all compaction means here; `physical` changes nothing, since nothing
   * is left behind to wait for.
   */
  private async compact(r: Obj, ctx: CallContext): Promise<Obj> {
    const revision = int64Field(r, "revision");
    const user = this.userOf(ctx);
    const res = await this.node.submit({ type: "compact", revision, ...(user ? { user } : {}) });
    if (!res.ok) throw new ServerError(res.error.code === "future_revision" ? "future_revision" : res.error.code === "compacted" ? "compacted" : "invalid_argument", res.error.message);
    return { header: headerOut(this.node.header(), res.revision) };
  }

  /** etcd's Watch: a stream of create/cancel/progress requests; responses carry the watch id. */
  private watch(call: BidiCall<Obj, Obj>, ctx: CallContext): void {
    const untrack = this.track(call);
    const handles = new Map<number, WatchHandle>();
    let nextId = 0;
    const write = (msg: Obj) => call.write(msg);
    const cleanup = () => {
      for (const h of handles.values()) h.cancel();
      handles.clear();
      untrack();
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
          if (key.length === 0) throw new ServerError("empty_key", "create_request.key: is not provided", { field: "create_request.key" });
          const rangeEnd = emptyToUndefined(bytesField(c, "range_end", "create_request."));
          const filters = Array.isArray(c.filters) ? (c.filters as unknown[]).map(String) : [];
          // etcd refuses a watch the user may not read by cancelling it at once (the stream goes on).
          try {
            this.services().auth.checkRead(this.userOf(ctx), key, rangeEnd);
          } catch (error) {
            if (!(error instanceof ServerError) || !["permission_denied", "user_empty", "invalid_auth_token"].includes(error.code)) throw error;
            write({ header: headerOut(this.node.header()), watch_id: id, created: true });
            write({ header: headerOut(this.node.header()), watch_id: id, canceled: true, cancel_reason: toGrpcError(error).details });
            return;
          }
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
        call.end(this.failure(error));
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
