/**
 * Where labs are written down, so any process (the owner, `heck-net` in
 * another terminal, the next start after a crash) can find them:
 * `/run/hecklab/<k>/` holds `owner` (pid and start time of the process that
 * owns lab k), `lab.json` (plan, backend, faults, delay queues) and the delay
 * queues' control sockets. `/run` is a tmpfs: like the namespaces
 * themselves, nothing survives a reboot.
 *
 * Lab k is claimed by creating its directory (mkdir is atomic), so two
 * processes starting labs at once never get the same subnet.
 */
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import type { Backend, FaultState } from "../core/faults.ts";
import { MAX_LAB_INDEX, type LabPlan } from "../core/lab-plan.ts";
import { isAlive, processStartTime } from "./system.ts";

/** The directory holding every lab's state (HECK_NET_STATE_DIR overrides it, for tests of this file). */
export function stateRoot(): string {
  return process.env.HECK_NET_STATE_DIR ?? "/run/hecklab";
}

/** The state directory of lab k. */
export function labDir(index: number): string {
  return path.join(stateRoot(), String(index));
}

/** Who owns a lab: a process identified by pid and start time (so a recycled pid is not mistaken for it). */
export interface LabOwner {
  pid: number;
  startTime: string;
  /**
   * The PID namespace the pid means something in (its inode). A process in
   * another PID namespace (a container, `unshare --pid`) is invisible from
   * here, so its pid says nothing about whether it is alive.
   */
  pidNs?: string;
}

/** This process's PID namespace (inode of /proc/self/ns/pid), or "" where there is none to read. */
export function pidNamespace(): string {
  try {
    return String(statSync("/proc/self/ns/pid").ino);
  } catch {
    return "";
  }
}

function ownerLine(owner: LabOwner): string {
  return `${owner.pid} ${owner.startTime} ${owner.pidNs ?? pidNamespace()}\n`;
}

/** What `lab.json` holds. */
export interface LabState {
  version: 1;
  plan: LabPlan;
  backend: Backend;
  /** Why this backend ("sch_netem is not in this kernel"...). */
  backendReason: string;
  owner: LabOwner;
  createdAt: string;
  /** Seed of the random draws the delay queues make. */
  seed: number;
  /**
   * The namespaces' inode numbers: processes inside them are found through
   * /proc/<pid>/ns/net even from a mount namespace where the names in
   * /run/netns are not mounted (`ip netns exec` gives each session its own).
   */
  netnsInodes: Record<string, number>;
  faults: FaultState;
  /** Running delay queues by host (queue backend). */
  queues: Record<string, { pid: number; startTime: string; control: string }>;
}

/** The owner record of lab k, or undefined while it is being written or when the directory is gone. */
export function readOwner(index: number): LabOwner | undefined {
  try {
    const [pid, startTime, pidNs] = readFileSync(path.join(labDir(index), "owner"), "utf8").trim().split(" ");
    if (pid === undefined || startTime === undefined) return undefined;
    return { pid: Number(pid), startTime, ...(pidNs ? { pidNs } : {}) };
  } catch {
    return undefined;
  }
}

/** Lab k's state, or undefined when it has none (not created, or half-created). */
export function readState(index: number): LabState | undefined {
  try {
    return JSON.parse(readFileSync(path.join(labDir(index), "lab.json"), "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

/** Writes lab k's state atomically (write then rename). */
export function writeState(state: LabState): void {
  const dir = labDir(state.plan.index);
  const tmp = path.join(dir, `lab.json.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(state, null, 2) + "\n");
  renameSync(tmp, path.join(dir, "lab.json"));
}

/** A directory younger than this without an owner file is being created, not abandoned. */
const CLAIM_GRACE_MS = 30_000;

/**
 * Lab k is live when its owner process is alive. A lab whose owner is gone,
 * or a claim that never got an owner file, is a leftover. An owner in
 * another PID namespace cannot be seen from here: its lab counts as live
 * (removing it could pull the network from under a running cluster).
 */
export function labIsLive(index: number): boolean {
  const owner = readOwner(index);
  if (owner !== undefined && owner.pidNs !== undefined && owner.pidNs !== pidNamespace()) return true;
  if (owner !== undefined) return isAlive(owner.pid, owner.startTime);
  try {
    return Date.now() - statSync(labDir(index)).mtimeMs < CLAIM_GRACE_MS;
  } catch {
    return false;
  }
}

/** The indexes that have a state directory, live or not, ascending. */
export function claimedIndexes(): number[] {
  try {
    return readdirSync(stateRoot())
      .filter((d) => /^\d{1,3}$/.test(d))
      .map(Number)
      .filter((k) => k >= 1 && k <= MAX_LAB_INDEX)
      .sort((a, b) => a - b);
  } catch {
    return [];
  }
}

/**
 * Claims lab index `preferred` (or the lowest free one) for this process:
 * creates its directory and owner file. Returns undefined when `preferred` is
 * taken by a live lab or no index is free. `isLeftover(k)` is consulted for
 * a taken index and may clear it (returning true) so the claim is retried.
 */
export function claimIndex(preferred: number | undefined, clearLeftover: (k: number) => boolean): number | undefined {
  mkdirSync(stateRoot(), { recursive: true, mode: 0o755 });
  const candidates = preferred !== undefined ? [preferred] : Array.from({ length: MAX_LAB_INDEX }, (_, i) => i + 1);
  const me: LabOwner = { pid: process.pid, startTime: processStartTime(process.pid) ?? "0" };
  for (const k of candidates) {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        mkdirSync(labDir(k));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        if (!labIsLive(k) && clearLeftover(k)) continue;
        break;
      }
      writeFileSync(path.join(labDir(k), "owner"), ownerLine(me));
      return k;
    }
  }
  return undefined;
}

/** Hands lab k to another process (the owner that will tear it down). */
export function setOwner(index: number, owner: LabOwner): void {
  writeFileSync(path.join(labDir(index), "owner"), ownerLine(owner));
}

/** Removes lab k's state directory. */
export function removeState(index: number): void {
  rmSync(labDir(index), { recursive: true, force: true });
}

/**
 * Runs `fn` holding lab k's lock, so two processes changing one lab's faults
 * (the owner and `heck-net` in another terminal) do not interleave. A lock
 * left by a dead process is broken; waits at most `timeoutMs`.
 */
export async function withLabLock<T>(index: number, fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const lock = path.join(labDir(index), "lock");
  const deadline = Date.now() + timeoutMs;
  const start = processStartTime(process.pid) ?? "0";
  for (;;) {
    try {
      const fd = openSync(lock, "wx");
      writeSync(fd, `${process.pid} ${start}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`lab ${index} is gone (its state directory was removed)`, { cause: e });
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let holder: string[];
      try {
        holder = readFileSync(lock, "utf8").trim().split(" ");
      } catch {
        continue; // released between our open and read
      }
      if (holder.length === 2 && !isAlive(Number(holder[0]), holder[1]!)) {
        try {
          unlinkSync(lock);
        } catch {
          // someone else broke it first
        }
        continue;
      }
      if (Date.now() > deadline) throw new Error(`lab ${index}: its lock is held by pid ${holder[0] ?? "?"} for over ${timeoutMs} ms`, { cause: e });
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // the lab was torn down meanwhile
    }
  }
}
