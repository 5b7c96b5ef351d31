/**
 * Binary encoding of KV commands (what goes into the Raft log) and of the
 * values the state machine caches or snapshots. Decoding never throws: it
 * returns `{ ok: false, error }` naming what was wrong, so a bad entry fails
 * one command on every replica alike instead of crashing a node.
 */
import { Reader, WireError, Writer } from "./wire.ts";
import type { AuthOp, PermissionType } from "./auth-store.ts";
import type {
  ApplyResult,
  Compare,
  CompareResult,
  CompareTarget,
  KeyValue,
  KvCommand,
  KvErrorCode,
  KvEvent,
  MemberAttrs,
  RangeRequest,
  RequestOp,
  ResponseOp,
  SessionTag,
  WriteOp,
  WriteResponse,
} from "./types.ts";
import { AUTH_ERROR_CODES } from "./types.ts";

/** Nested transactions deeper than this are refused (etcd allows nesting; a bound keeps decoding safe). */
export const MAX_TXN_DEPTH = 8;

/**
 * Version 2 added the proposer's clock (`timeMs`), version 3 the
 * authenticated user; older commands still decode, without them.
 */
const COMMAND_VERSION = 3;
const compareResults: CompareResult[] = ["equal", "greater", "less", "not_equal"];
const compareTargets: CompareTarget[] = ["version", "create", "mod", "value", "lease"];
const sortOrders = ["none", "ascend", "descend"] as const;
const sortTargets = ["key", "version", "create", "mod", "value"] as const;
// Append only: a code's position is what cached results in snapshots store.
const errorCodes: KvErrorCode[] = [
  "session_expired",
  "stale_request",
  "invalid_request",
  "compacted",
  "future_revision",
  "key_not_found",
  "lease_not_found",
  "lease_exists",
  "lease_ttl_too_large",
  ...AUTH_ERROR_CODES,
];
const permissionTypes: PermissionType[] = ["read", "write", "readwrite"];

/** The outcome of a decode: the value, or a message saying what was malformed. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

function decodeWith<T>(bytes: Uint8Array, what: string, read: (r: Reader) => T): Decoded<T> {
  try {
    const r = new Reader(bytes);
    const value = read(r);
    if (!r.done()) return { ok: false, error: `${what}: trailing bytes` };
    return { ok: true, value };
  } catch (error) {
    const message = error instanceof WireError ? error.message : String(error);
    return { ok: false, error: `${what}: ${message}` };
  }
}

function enumIndex<T>(values: readonly T[], value: T, what: string): number {
  const i = values.indexOf(value);
  if (i < 0) throw new WireError(`unknown ${what} ${String(value)}`);
  return i;
}

function enumValue<T>(values: readonly T[], i: number, what: string): T {
  const v = values[i];
  if (v === undefined) throw new WireError(`unknown ${what} ${i}`);
  return v;
}

// --- KeyValue and events ---------------------------------------------------

/** Writes one KeyValue. */
export function writeKv(w: Writer, kv: KeyValue): void {
  w.bytes(kv.key).bytes(kv.value).uint(kv.createRevision).uint(kv.modRevision).uint(kv.version).uint(kv.lease);
}

/** Reads one KeyValue. */
export function readKv(r: Reader): KeyValue {
  return { key: r.bytes(), value: r.bytes(), createRevision: r.uint(), modRevision: r.uint(), version: r.uint(), lease: r.uint() };
}

function writeOptionalKv(w: Writer, kv: KeyValue | undefined): void {
  w.bool(kv !== undefined);
  if (kv) writeKv(w, kv);
}

function readOptionalKv(r: Reader): KeyValue | undefined {
  return r.bool() ? readKv(r) : undefined;
}

/** Writes one watch event. */
export function writeEvent(w: Writer, e: KvEvent): void {
  w.uint(e.type === "put" ? 0 : 1);
  writeKv(w, e.kv);
  writeOptionalKv(w, e.prevKv);
}

/** Reads one watch event. */
export function readEvent(r: Reader): KvEvent {
  const type = r.uint() === 0 ? "put" : "delete";
  const kv = readKv(r);
  const prevKv = readOptionalKv(r);
  return prevKv ? { type, kv, prevKv } : { type, kv };
}

// --- requests --------------------------------------------------------------

function writeOptionalBytes(w: Writer, b: Uint8Array | undefined): void {
  w.bool(b !== undefined);
  if (b) w.bytes(b);
}

function readOptionalBytes(r: Reader): Uint8Array | undefined {
  return r.bool() ? r.bytes() : undefined;
}

function writeRange(w: Writer, q: RangeRequest): void {
  w.bytes(q.key);
  writeOptionalBytes(w, q.rangeEnd);
  w.uint(q.limit ?? 0).uint(q.revision ?? 0);
  w.uint(enumIndex(sortOrders, q.sortOrder ?? "none", "sort order")).uint(enumIndex(sortTargets, q.sortTarget ?? "key", "sort target"));
  w.bool(q.serializable ?? false).bool(q.keysOnly ?? false).bool(q.countOnly ?? false);
  w.uint(q.minModRevision ?? 0).uint(q.maxModRevision ?? 0).uint(q.minCreateRevision ?? 0).uint(q.maxCreateRevision ?? 0);
}

function readRange(r: Reader): RangeRequest {
  const key = r.bytes();
  const rangeEnd = readOptionalBytes(r);
  const q: RangeRequest = { key };
  if (rangeEnd) q.rangeEnd = rangeEnd;
  q.limit = r.uint();
  q.revision = r.uint();
  q.sortOrder = enumValue(sortOrders, r.uint(), "sort order");
  q.sortTarget = enumValue(sortTargets, r.uint(), "sort target");
  q.serializable = r.bool();
  q.keysOnly = r.bool();
  q.countOnly = r.bool();
  q.minModRevision = r.uint();
  q.maxModRevision = r.uint();
  q.minCreateRevision = r.uint();
  q.maxCreateRevision = r.uint();
  return q;
}

function writeCompare(w: Writer, c: Compare): void {
  w.bytes(c.key);
  writeOptionalBytes(w, c.rangeEnd);
  w.uint(enumIndex(compareResults, c.result, "compare result")).uint(enumIndex(compareTargets, c.target, "compare target"));
  if (c.target === "value") w.bytes(c.value);
  else w.uint(c.value);
}

function readCompare(r: Reader): Compare {
  const key = r.bytes();
  const rangeEnd = readOptionalBytes(r);
  const result = enumValue(compareResults, r.uint(), "compare result");
  const target = enumValue(compareTargets, r.uint(), "compare target");
  const base = rangeEnd ? { key, rangeEnd, result } : { key, result };
  if (target === "value") return { ...base, target, value: r.bytes() };
  return { ...base, target, value: r.uint() };
}

/** Writes one request op (recursively for nested transactions). */
export function writeOp(w: Writer, op: RequestOp, depth = 0): void {
  if (depth > MAX_TXN_DEPTH) throw new WireError(`transactions nested deeper than ${MAX_TXN_DEPTH}`);
  switch (op.type) {
    case "range":
      w.uint(0);
      writeRange(w, op);
      return;
    case "put":
      // Tag 1 is a put without lease fields (the form older logs hold); tag 4 carries them.
      if (!op.lease && !op.ignoreLease) w.uint(1).bytes(op.key).bytes(op.value).bool(op.prevKv ?? false).bool(op.ignoreValue ?? false);
      else w.uint(4).bytes(op.key).bytes(op.value).bool(op.prevKv ?? false).bool(op.ignoreValue ?? false).uint(op.lease ?? 0).bool(op.ignoreLease ?? false);
      return;
    case "delete":
      w.uint(2).bytes(op.key);
      writeOptionalBytes(w, op.rangeEnd);
      w.bool(op.prevKv ?? false);
      return;
    case "txn":
      w.uint(3).uint(op.compare.length);
      for (const c of op.compare) writeCompare(w, c);
      for (const branch of [op.success, op.failure]) {
        w.uint(branch.length);
        for (const o of branch) writeOp(w, o, depth + 1);
      }
      return;
  }
}

/** Reads one request op. */
export function readOp(r: Reader, depth = 0): RequestOp {
  if (depth > MAX_TXN_DEPTH) throw new WireError(`transactions nested deeper than ${MAX_TXN_DEPTH}`);
  const tag = r.uint();
  switch (tag) {
    case 0:
      return { type: "range", ...readRange(r) };
    case 1:
      return { type: "put", key: r.bytes(), value: r.bytes(), prevKv: r.bool(), ignoreValue: r.bool() };
    case 2: {
      const key = r.bytes();
      const rangeEnd = readOptionalBytes(r);
      const prevKv = r.bool();
      return rangeEnd ? { type: "delete", key, rangeEnd, prevKv } : { type: "delete", key, prevKv };
    }
    case 3: {
      const compare: Compare[] = [];
      const nc = r.uint();
      for (let i = 0; i < nc; i++) compare.push(readCompare(r));
      const branches: RequestOp[][] = [];
      for (let b = 0; b < 2; b++) {
        const n = r.uint();
        const ops: RequestOp[] = [];
        for (let i = 0; i < n; i++) ops.push(readOp(r, depth + 1));
        branches.push(ops);
      }
      return { type: "txn", compare, success: branches[0]!, failure: branches[1]! };
    }
    case 4:
      return { type: "put", key: r.bytes(), value: r.bytes(), prevKv: r.bool(), ignoreValue: r.bool(), lease: r.uint(), ignoreLease: r.bool() };
    default:
      throw new WireError(`unknown op tag ${tag}`);
  }
}

// --- commands --------------------------------------------------------------

function writeSession(w: Writer, s: SessionTag | undefined): void {
  w.bool(s !== undefined);
  if (s) w.uint(s.clientId).uint(s.seq).uint(s.firstUnackedSeq);
}

function readSession(r: Reader): SessionTag | undefined {
  return r.bool() ? { clientId: r.uint(), seq: r.uint(), firstUnackedSeq: r.uint() } : undefined;
}

/** Writes member attributes. */
export function writeMemberAttrs(w: Writer, a: MemberAttrs): void {
  w.string(a.peerAddress).uint(a.clientUrls.length);
  for (const u of a.clientUrls) w.string(u);
  w.string(a.httpAddress);
}

/** Reads member attributes. */
export function readMemberAttrs(r: Reader): MemberAttrs {
  const peerAddress = r.string();
  const n = r.uint();
  const clientUrls: string[] = [];
  for (let i = 0; i < n; i++) clientUrls.push(r.string());
  return { peerAddress, clientUrls, httpAddress: r.string() };
}

/** Bytes a write's keys and values take (so the encoder allocates once). */
function opSizeHint(op: WriteOp): number {
  switch (op.type) {
    case "put":
      return op.key.length + op.value.length;
    case "delete":
      return op.key.length + (op.rangeEnd?.length ?? 0);
    case "txn":
      return 256;
  }
}

function writeAuthOp(w: Writer, op: AuthOp): void {
  switch (op.type) {
    case "enable":
      w.uint(0);
      return;
    case "disable":
      w.uint(1);
      return;
    case "user-add":
      w.uint(2).string(op.name).string(op.passwordHash).bool(op.noPassword);
      return;
    case "user-delete":
      w.uint(3).string(op.name);
      return;
    case "user-change-password":
      w.uint(4).string(op.name).string(op.passwordHash);
      return;
    case "user-grant-role":
      w.uint(5).string(op.name).string(op.role);
      return;
    case "user-revoke-role":
      w.uint(6).string(op.name).string(op.role);
      return;
    case "role-add":
      w.uint(7).string(op.name);
      return;
    case "role-delete":
      w.uint(8).string(op.name);
      return;
    case "role-grant-permission":
      w.uint(9).string(op.name).bytes(op.permission.key).bytes(op.permission.rangeEnd).uint(enumIndex(permissionTypes, op.permission.type, "permission type"));
      return;
    case "role-revoke-permission":
      w.uint(10).string(op.name).bytes(op.key).bytes(op.rangeEnd);
      return;
    case "authenticate":
      w.uint(11).string(op.name).string(op.tokenPrefix).uint(op.authRevision);
      return;
  }
}

function readAuthOp(r: Reader): AuthOp {
  const tag = r.uint();
  switch (tag) {
    case 0:
      return { type: "enable" };
    case 1:
      return { type: "disable" };
    case 2:
      return { type: "user-add", name: r.string(), passwordHash: r.string(), noPassword: r.bool() };
    case 3:
      return { type: "user-delete", name: r.string() };
    case 4:
      return { type: "user-change-password", name: r.string(), passwordHash: r.string() };
    case 5:
      return { type: "user-grant-role", name: r.string(), role: r.string() };
    case 6:
      return { type: "user-revoke-role", name: r.string(), role: r.string() };
    case 7:
      return { type: "role-add", name: r.string() };
    case 8:
      return { type: "role-delete", name: r.string() };
    case 9:
      return { type: "role-grant-permission", name: r.string(), permission: { key: r.bytes(), rangeEnd: r.bytes(), type: enumValue(permissionTypes, r.uint(), "permission type") } };
    case 10:
      return { type: "role-revoke-permission", name: r.string(), key: r.bytes(), rangeEnd: r.bytes() };
    case 11:
      return { type: "authenticate", name: r.string(), tokenPrefix: r.string(), authRevision: r.uint() };
    default:
      throw new WireError(`unknown auth op tag ${tag}`);
  }
}

/** Encodes a command for the Raft log. Throws on values the wire cannot hold (negative numbers, nesting too deep). */
export function encodeCommand(c: KvCommand): Uint8Array {
  const w = new Writer(c.type === "write" ? 128 + opSizeHint(c.op) : 128).uint(COMMAND_VERSION).uint(c.timeMs ?? 0).string(c.user ?? "");
  switch (c.type) {
    case "write":
      w.uint(0).string(c.requestId);
      writeSession(w, c.session);
      writeOp(w, c.op);
      break;
    case "register":
      w.uint(1).string(c.requestId);
      break;
    case "member-attrs":
      w.uint(2).string(c.requestId).string(c.nodeId);
      writeMemberAttrs(w, c.attrs);
      break;
    case "lease-grant":
      w.uint(3).string(c.requestId).uint(c.id).uint(c.ttlSec);
      break;
    case "lease-revoke":
      w.uint(4).string(c.requestId).uint(c.id).bool(c.expired ?? false);
      break;
    case "compact":
      w.uint(5).string(c.requestId).uint(c.revision);
      break;
    case "auth":
      w.uint(6).string(c.requestId);
      writeAuthOp(w, c.op);
      break;
  }
  return w.finish().slice();
}

/** Decodes a command from a log entry's data. */
export function decodeCommand(bytes: Uint8Array): Decoded<KvCommand> {
  return decodeWith(bytes, "command", (r) => {
    const version = r.uint();
    if (version < 1 || version > COMMAND_VERSION) throw new WireError(`unsupported command version ${version}`);
    const timeMs = version >= 2 ? r.uint() : 0;
    const user = version >= 3 ? r.string() : "";
    const extra = { ...(timeMs > 0 ? { timeMs } : {}), ...(user !== "" ? { user } : {}) };
    const tag = r.uint();
    const requestId = r.string();
    switch (tag) {
      case 0: {
        const session = readSession(r);
        const op = readOp(r);
        if (op.type === "range") throw new WireError("a range is a read, not a write command");
        return session ? { type: "write", requestId, session, op, ...extra } : { type: "write", requestId, op, ...extra };
      }
      case 1:
        return { type: "register", requestId, ...extra };
      case 2:
        return { type: "member-attrs", requestId, nodeId: r.string(), attrs: readMemberAttrs(r), ...extra };
      case 3:
        return { type: "lease-grant", requestId, id: r.uint(), ttlSec: r.uint(), ...extra };
      case 4: {
        const id = r.uint();
        return r.bool() ? { type: "lease-revoke", requestId, id, expired: true, ...extra } : { type: "lease-revoke", requestId, id, ...extra };
      }
      case 5:
        return { type: "compact", requestId, revision: r.uint(), ...extra };
      case 6:
        return { type: "auth", requestId, op: readAuthOp(r), ...extra };
      default:
        throw new WireError(`unknown command tag ${tag}`);
    }
  });
}

// --- responses (cached in sessions, so they are part of snapshots) ---------

function writeResponseOp(w: Writer, resp: ResponseOp): void {
  switch (resp.type) {
    case "range":
      w.uint(0).uint(resp.kvs.length);
      for (const kv of resp.kvs) writeKv(w, kv);
      w.bool(resp.more).uint(resp.count);
      return;
    case "put":
      w.uint(1);
      writeOptionalKv(w, resp.prevKv);
      return;
    case "delete":
      w.uint(2).uint(resp.deleted).uint(resp.prevKvs.length);
      for (const kv of resp.prevKvs) writeKv(w, kv);
      return;
    case "txn":
      w.uint(3).bool(resp.succeeded).uint(resp.responses.length);
      for (const x of resp.responses) writeResponseOp(w, x);
      return;
  }
}

function readResponseOp(r: Reader, depth = 0): ResponseOp {
  if (depth > MAX_TXN_DEPTH) throw new WireError("responses nested too deep");
  const tag = r.uint();
  switch (tag) {
    case 0: {
      const n = r.uint();
      const kvs: KeyValue[] = [];
      for (let i = 0; i < n; i++) kvs.push(readKv(r));
      return { type: "range", kvs, more: r.bool(), count: r.uint() };
    }
    case 1: {
      const prevKv = readOptionalKv(r);
      return prevKv ? { type: "put", prevKv } : { type: "put" };
    }
    case 2: {
      const deleted = r.uint();
      const n = r.uint();
      const prevKvs: KeyValue[] = [];
      for (let i = 0; i < n; i++) prevKvs.push(readKv(r));
      return { type: "delete", deleted, prevKvs };
    }
    case 3: {
      const succeeded = r.bool();
      const n = r.uint();
      const responses: ResponseOp[] = [];
      for (let i = 0; i < n; i++) responses.push(readResponseOp(r, depth + 1));
      return { type: "txn", succeeded, responses };
    }
    default:
      throw new WireError(`unknown response tag ${tag}`);
  }
}

/** A result as cached for a session: enough to answer a retried request identically. */
export type CachedResult = { ok: true; revision: number; response: WriteResponse } | { ok: false; revision: number; error: { code: KvErrorCode; message: string } };

/** Writes a cached session result. */
export function writeCachedResult(w: Writer, c: CachedResult): void {
  w.bool(c.ok).uint(c.revision);
  if (c.ok) writeResponseOp(w, c.response);
  else w.uint(enumIndex(errorCodes, c.error.code, "error code")).string(c.error.message);
}

/** Reads a cached session result. */
export function readCachedResult(r: Reader): CachedResult {
  const ok = r.bool();
  const revision = r.uint();
  if (ok) {
    const response = readResponseOp(r);
    if (response.type === "range") throw new WireError("cached result cannot be a range");
    return { ok, revision, response };
  }
  return { ok, revision, error: { code: enumValue(errorCodes, r.uint(), "error code"), message: r.string() } };
}

/** Narrows an ApplyResult to what a session caches (drops events). */
export function toCached(result: ApplyResult): CachedResult | undefined {
  if (!result.ok) return { ok: false, revision: result.revision, error: result.error };
  if ("response" in result) return { ok: true, revision: result.revision, response: result.response };
  return undefined;
}

/** Type guard for write ops (used by edges that build commands). */
export function isWriteOp(op: RequestOp): op is WriteOp {
  return op.type !== "range";
}

export { Reader, Writer, WireError };
