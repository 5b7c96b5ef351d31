/**
 * CPU pressure as a lab fault: a cgroup of the v1 `cpu` controller whose CFS
 * bandwidth caps its processes at a share of one core (quota per 100 ms
 * period), so a test or the v2 soak can starve the processes on a host the
 * way a busy machine does, and lift the cap again. The group is named with
 * the lab prefix and removed by {@link CpuLimit.remove}; its processes go
 * back to the root group first.
 */
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { LabUnsupportedError } from "./lab.ts";

/** CFS period: the quota is spent within each 100 ms, so a capped process runs in bursts of at most `pct` ms per 100 ms. */
const PERIOD_US = 100_000;

/** What the kernel reports for a group: periods with runnable work, periods cut short by the quota, and time held back. */
export interface CpuThrottling {
  periods: number;
  throttledPeriods: number;
  throttledMs: number;
}

/** A cgroup capping its processes at a share of one core; create with {@link CpuLimit.create}. */
export class CpuLimit {
  private constructor(
    private readonly root: string,
    /** The group's directory under the controller's mount point. */
    readonly dir: string,
  ) {}

  /**
   * Creates the group `hecklab-cpu-<name>` capped at `pct` % of one core
   * (1..1000: above 100 the processes may use several cores). Throws a
   * {@link LabUnsupportedError} where no cgroup v1 `cpu` controller is
   * mounted or it cannot be written (not root).
   */
  static create(name: string, pct: number): CpuLimit {
    if (!/^[a-z0-9-]{1,40}$/.test(name)) throw new RangeError(`CpuLimit: name must be 1-40 of a-z, 0-9 and -, got ${JSON.stringify(name)}`);
    const root = cpuControllerRoot();
    if (root === undefined) throw new LabUnsupportedError("CPU limits need the cgroup v1 cpu controller (mounted at /sys/fs/cgroup/cpu on most systems); none is mounted here");
    const dir = path.join(root, `hecklab-cpu-${name}`);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, "cpu.cfs_period_us"), String(PERIOD_US));
    } catch (e) {
      throw new LabUnsupportedError(`CPU limits: cannot create the cgroup ${dir} (${(e as Error).message}); run as root`);
    }
    const limit = new CpuLimit(root, dir);
    limit.setPct(pct);
    return limit;
  }

  /** Changes the cap at once (the processes stay in the group): how a schedule applies and eases pressure. */
  setPct(pct: number): void {
    if (!(Number.isInteger(pct) && pct >= 1 && pct <= 1000)) throw new RangeError(`CpuLimit: pct must be an integer in 1..1000, got ${pct}`);
    writeFileSync(path.join(this.dir, "cpu.cfs_quota_us"), String((pct * PERIOD_US) / 100));
  }

  /** Lifts the cap (quota -1: unlimited) without moving the processes out. */
  lift(): void {
    writeFileSync(path.join(this.dir, "cpu.cfs_quota_us"), "-1");
  }

  /** Moves process `pid` (all its threads) into the group; a process that already exited is ignored. */
  add(pid: number): void {
    try {
      appendFileSync(path.join(this.dir, "cgroup.procs"), `${pid}\n`);
    } catch {
      // exited already
    }
  }

  /** The processes in the group now. */
  pids(): number[] {
    return readFileSync(path.join(this.dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
  }

  /** The kernel's throttling counters for the group (`cpu.stat`). */
  throttling(): CpuThrottling {
    const stat = new Map(
      readFileSync(path.join(this.dir, "cpu.stat"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ") as [string, string]),
    );
    return { periods: Number(stat.get("nr_periods") ?? 0), throttledPeriods: Number(stat.get("nr_throttled") ?? 0), throttledMs: Number(stat.get("throttled_time") ?? 0) / 1e6 };
  }

  /** Moves whatever is left back to the root group and removes the group; safe to call twice. */
  remove(): void {
    try {
      for (const pid of this.pids()) this.moveToRoot(pid);
      rmdirSync(this.dir);
    } catch {
      // already gone
    }
  }

  private moveToRoot(pid: number): void {
    try {
      appendFileSync(path.join(this.root, "cgroup.procs"), `${pid}\n`);
    } catch {
      // exited meanwhile
    }
  }
}

/** Where {@link cpuControllerRoot} mounts the controller when this mount namespace has none. */
const PRIVATE_MOUNT = "/run/hecklab-cgroup-cpu";

/**
 * Where the cgroup v1 hierarchy with the `cpu` controller is mounted. When
 * this mount namespace shows none (`ip netns exec` remounts /sys, hiding
 * the host's), root mounts the same hierarchy at {@link PRIVATE_MOUNT};
 * undefined when that fails too (not root, or a cgroup v2-only system).
 */
export function cpuControllerRoot(): string | undefined {
  const found = mountedCpuController();
  if (found !== undefined || process.getuid?.() !== 0) return found;
  try {
    mkdirSync(PRIVATE_MOUNT, { recursive: true });
    execFileSync("mount", ["-t", "cgroup", "-o", "cpu", "hecklab-cpu", PRIVATE_MOUNT], { stdio: "ignore" });
  } catch {
    return undefined;
  }
  return mountedCpuController();
}

function mountedCpuController(): string | undefined {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const [fstype, , options] = post.split(" ");
    if (fstype === "cgroup" && (options ?? "").split(",").includes("cpu")) {
      const mountPoint = pre.split(" ")[4];
      if (mountPoint && existsSync(path.join(mountPoint, "cpu.cfs_quota_us"))) return mountPoint;
    }
  }
  return undefined;
}
