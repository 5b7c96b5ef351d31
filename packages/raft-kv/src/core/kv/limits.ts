/**
 * Size limits every client interface enforces before a request reaches the
 * log: a value bigger than the limit would bloat every replica's WAL and every
 * snapshot, and an unbounded request could exhaust memory.
 */
import type { RequestOp } from "./types.ts";

/** Limits on client requests. The same for the HTTP and gRPC interfaces. */
export interface RequestLimits {
  /** Longest key in bytes. Default 4 KiB: keys are names, and range scans compare them often. */
  maxKeyBytes: number;
  /** Largest value in bytes. Default 1 MiB, below etcd's 1.5 MiB request limit. */
  maxValueBytes: number;
  /** Largest request (HTTP body or gRPC message). Default 1.5 MiB (etcd's --max-request-bytes); HTTP allows 4/3 of it for base64. */
  maxRequestBytes: number;
  /** Most operations (compares + ops, recursively) in one transaction. Default 128, etcd's --max-txn-ops. */
  maxTxnOps: number;
}

/** Defaults for {@link RequestLimits}. */
export const DEFAULT_LIMITS: RequestLimits = { maxKeyBytes: 4096, maxValueBytes: 1024 * 1024, maxRequestBytes: 1536 * 1024, maxTxnOps: 128 };

/** A field that broke a rule: which field, and why. */
export interface FieldError {
  field: string;
  message: string;
  tooLarge?: boolean;
  /** Which of etcd's conditions it is, for interfaces that answer with etcd's errors. */
  reason?: "empty_key" | "too_large" | "too_many_ops" | "invalid";
}

/** Checks a key: present, not empty, not too long. */
export function checkKey(key: Uint8Array, limits: RequestLimits, field = "key"): FieldError | undefined {
  if (key.length === 0) return { field, message: `${field}: must not be empty`, reason: "empty_key" };
  if (key.length > limits.maxKeyBytes) return { field, message: `${field}: ${key.length} bytes exceeds the ${limits.maxKeyBytes}-byte limit`, tooLarge: true, reason: "too_large" };
  return undefined;
}

/** Checks a value's size. */
export function checkValue(value: Uint8Array, limits: RequestLimits, field = "value"): FieldError | undefined {
  if (value.length > limits.maxValueBytes) return { field, message: `${field}: ${value.length} bytes exceeds the ${limits.maxValueBytes}-byte limit`, tooLarge: true, reason: "too_large" };
  return undefined;
}

/** Checks every key, range end and value of an op (recursively for transactions) and the op count. */
export function checkOp(op: RequestOp, limits: RequestLimits, field = "op"): FieldError | undefined {
  let count = 0;
  const visit = (o: RequestOp, f: string, depth: number): FieldError | undefined => {
    if (depth > 8) return { field: f, message: `${f}: transactions nested deeper than 8`, reason: "invalid" };
    switch (o.type) {
      case "range":
        count++;
        return checkKey(o.key, limits, `${f}.key`) ?? (o.rangeEnd && o.rangeEnd.length > limits.maxKeyBytes ? { field: `${f}.rangeEnd`, message: `${f}.rangeEnd: too long`, tooLarge: true, reason: "too_large" } : undefined);
      case "put":
        count++;
        return checkKey(o.key, limits, `${f}.key`) ?? checkValue(o.value, limits, `${f}.value`);
      case "delete":
        count++;
        return checkKey(o.key, limits, `${f}.key`) ?? (o.rangeEnd && o.rangeEnd.length > limits.maxKeyBytes ? { field: `${f}.rangeEnd`, message: `${f}.rangeEnd: too long`, tooLarge: true, reason: "too_large" } : undefined);
      case "txn": {
        count += o.compare.length;
        for (const [i, c] of o.compare.entries()) {
          const e = checkKey(c.key, limits, `${f}.compare[${i}].key`) ?? (c.target === "value" ? checkValue(c.value, limits, `${f}.compare[${i}].value`) : undefined);
          if (e) return e;
          if (c.target !== "value" && (!Number.isSafeInteger(c.value) || c.value < 0)) return { field: `${f}.compare[${i}].value`, message: `${f}.compare[${i}].value: must be a non-negative integer`, reason: "invalid" };
        }
        for (const [name, branch] of [["success", o.success], ["failure", o.failure]] as const) {
          for (const [i, x] of branch.entries()) {
            const e = visit(x, `${f}.${name}[${i}]`, depth + 1);
            if (e) return e;
          }
        }
        return undefined;
      }
    }
  };
  const e = visit(op, field, 0);
  if (e) return e;
  if (count > limits.maxTxnOps) return { field, message: `${field}: ${count} operations exceeds the limit of ${limits.maxTxnOps} per transaction`, tooLarge: true, reason: "too_many_ops" };
  return undefined;
}
