/**
 * Reading and writing the fields of etcd's messages as proto-loader gives
 * them (int64 as decimal strings, bytes as Buffers, enums as names, oneofs
 * naming the field set), shared by every gRPC service file. Every reader
 * validates: a field of the wrong type or out of range is an INVALID_ARGUMENT
 * naming it, never a crash deeper in.
 */
import type { KeyValue, KvEvent } from "../core/kv/index.ts";
import type { HeaderInfo } from "./node-info.ts";
import { ServerError } from "../core/replica/errors.ts";

/** A decoded message: field name to value. */
export type Obj = Record<string, unknown>;

/** A malformed field: INVALID_ARGUMENT with the field's name. */
export class InvalidRequest extends ServerError {
  constructor(field: string, message: string) {
    super("invalid_argument", `${field}: ${message}`, { field });
  }
}

/** A bytes field (absent = empty), copied out of the request buffer. */
export function bytesField(o: Obj, field: string, prefix = ""): Uint8Array {
  const v = o[field];
  if (v === undefined || v === null) return new Uint8Array(0);
  if (!(v instanceof Uint8Array)) throw new InvalidRequest(prefix + field, "must be bytes");
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();
}

/** A string field (absent = ""). */
export function stringField(o: Obj, field: string, prefix = ""): string {
  const v = o[field];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new InvalidRequest(prefix + field, "must be a string");
  return v;
}

/** An int64 field that must be 0 or more and an exact JavaScript number (absent = 0). */
export function int64Field(o: Obj, field: string, prefix = ""): number {
  const n = signedInt64Field(o, field, prefix);
  if (n < 0) throw new InvalidRequest(prefix + field, `must be a non-negative integer below 2^53, got ${String(o[field])}`);
  return n;
}

/** An int64 field that may be negative (a lease TTL), within ±(2^53 - 1) (absent = 0). */
export function signedInt64Field(o: Obj, field: string, prefix = ""): number {
  const v = o[field];
  if (v === undefined || v === null || v === "") return 0;
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidRequest(prefix + field, `must be an integer of magnitude below 2^53, got ${String(v)}`);
  return n;
}

/** A uint64 field (member ids) as a bigint (absent = 0n). */
export function uint64Field(o: Obj, field: string, prefix = ""): bigint {
  const v = o[field];
  if (v === undefined || v === null || v === "") return 0n;
  try {
    const n = BigInt(typeof v === "object" ? String(v) : (v as string | number));
    if (n < 0n || n > 0xffffffffffffffffn) throw new RangeError();
    return n;
  } catch {
    throw new InvalidRequest(prefix + field, `must be an unsigned 64-bit integer, got ${String(v)}`);
  }
}

/** A bool field (absent = false). */
export function boolField(o: Obj, field: string): boolean {
  return o[field] === true;
}

/** A message field (absent = an empty message). */
export function sub(o: Obj, field: string): Obj {
  const v = o[field];
  return typeof v === "object" && v !== null ? (v as Obj) : {};
}

/** A repeated string field. */
export function stringList(o: Obj, field: string, prefix = ""): string[] {
  const v = o[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new InvalidRequest(prefix + field, "must be a list of strings");
  return v as string[];
}

/** Empty bytes as undefined (etcd's "no range end"). */
export function emptyToUndefined(b: Uint8Array): Uint8Array | undefined {
  return b.length === 0 ? undefined : b;
}

/** uint64 ids as protobufjs's {low, high} form, computed once: as decimal strings they were parsed again on every response. */
const uint64Cache = new Map<bigint, { low: number; high: number; unsigned: true }>();

/** A uint64 for a response. */
export function uint64(v: bigint): { low: number; high: number; unsigned: true } {
  let out = uint64Cache.get(v);
  if (!out) {
    out = { low: Number(v & 0xffffffffn) | 0, high: Number((v >> 32n) & 0xffffffffn) | 0, unsigned: true };
    if (uint64Cache.size < 64) uint64Cache.set(v, out);
  }
  return out;
}

/** etcd's ResponseHeader; `revision` overrides the node's current one (the revision a write landed at). */
export function headerOut(h: HeaderInfo, revision?: number): Obj {
  return { cluster_id: uint64(h.clusterId), member_id: uint64(h.memberId), revision: revision ?? h.revision, raft_term: h.raftTerm };
}

/** mvccpb.KeyValue. */
export function kvOut(kv: KeyValue): Obj {
  return { key: Buffer.from(kv.key), value: Buffer.from(kv.value), create_revision: kv.createRevision, mod_revision: kv.modRevision, version: kv.version, lease: kv.lease };
}

/** mvccpb.Event. */
export function eventOut(e: KvEvent): Obj {
  const out: Obj = { type: e.type === "put" ? "PUT" : "DELETE", kv: kvOut(e.kv) };
  if (e.prevKv) out.prev_kv = kvOut(e.prevKv);
  return out;
}
