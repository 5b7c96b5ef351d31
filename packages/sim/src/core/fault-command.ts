/**
 * The admin command that switches a node's fault injection at runtime, as a
 * validated JSON shape, so every stage's admin endpoint accepts the same body:
 *
 * ```json
 * { "dropRate": 0.2, "block": ["127.0.0.1:14001"], "unblock": ["127.0.0.1:14002"] }
 * { "unblockAll": true }
 * ```
 */
import type { Address, FaultControl } from "./types.ts";

/** A parsed fault command; every field optional. */
export interface FaultCommand {
  dropRate?: number;
  block?: Address[];
  unblock?: Address[];
  unblockAll?: boolean;
}

/** Validates an untrusted value; returns the command or an error naming the field. */
export function parseFaultCommand(value: unknown): { ok: true; command: FaultCommand } | { ok: false; error: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, error: "body: expected a JSON object" };
  const v = value as Record<string, unknown>;
  const known = new Set(["dropRate", "block", "unblock", "unblockAll"]);
  for (const k of Object.keys(v)) if (!known.has(k)) return { ok: false, error: `${k}: unknown field (expected dropRate, block, unblock, unblockAll)` };
  const command: FaultCommand = {};
  if (v.dropRate !== undefined) {
    if (typeof v.dropRate !== "number" || !(v.dropRate >= 0 && v.dropRate <= 1)) return { ok: false, error: "dropRate: expected a number in [0, 1]" };
    command.dropRate = v.dropRate;
  }
  for (const field of ["block", "unblock"] as const) {
    const list = v[field];
    if (list === undefined) continue;
    if (!Array.isArray(list) || !list.every((a) => typeof a === "string" && a.length > 0)) return { ok: false, error: `${field}: expected an array of addresses` };
    command[field] = list as Address[];
  }
  if (v.unblockAll !== undefined) {
    if (typeof v.unblockAll !== "boolean") return { ok: false, error: "unblockAll: expected a boolean" };
    command.unblockAll = v.unblockAll;
  }
  return { ok: true, command };
}

/** Applies a command (unblock before block, so a body can swap blocks) and returns the new settings. */
export function applyFaultCommand(control: FaultControl, command: FaultCommand): { dropRate: number; blocked: Address[] } {
  if (command.unblockAll === true) control.unblock();
  if (command.unblock !== undefined) control.unblock(command.unblock);
  if (command.block !== undefined) control.block(command.block);
  if (command.dropRate !== undefined) control.setDropRate(command.dropRate);
  return control.faults();
}
