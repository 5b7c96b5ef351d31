/**
 * CPU pressure as a fault: a busy process in a {@link CpuLimit} group is
 * throttled by the kernel, and is not once the cap is lifted. Runs where a
 * cgroup v1 `cpu` controller can be written (root); elsewhere the suite is
 * skipped under a name that says why.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { CpuLimit, cpuControllerRoot } from "../src/io/cpu.ts";

const reason = process.getuid?.() !== 0 ? "CPU limits need root" : cpuControllerRoot() === undefined ? "no cgroup v1 cpu controller is mounted" : undefined;
const describeWithCpu = reason === undefined ? describe : (name: string, fn: () => void) => describe.skip(`${name} [skipped: ${reason}]`, fn);

/** A bounded busy loop: spins for `ms` of its own CPU time, then exits. */
function spin(ms: number) {
  const child = spawn(process.execPath, ["-e", `const end = process.cpuUsage().user + ${ms * 1000}; while (process.cpuUsage().user < end) {}`], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { pid: child.pid!, exited };
}

describeWithCpu("CpuLimit", () => {
  it("caps a busy process at its share of a core: the kernel throttles it, and stops once the cap is lifted", async () => {
    const limit = CpuLimit.create(`test-${process.pid}`, 10);
    try {
      // 300 ms of CPU at 10 % of a core cannot finish within one 100 ms period: it is throttled.
      const busy = spin(300);
      limit.add(busy.pid);
      expect(limit.pids()).toContain(busy.pid);
      await busy.exited;
      const capped = limit.throttling();
      expect(capped.throttledPeriods).toBeGreaterThan(0);
      expect(capped.throttledMs).toBeGreaterThan(0);
      limit.lift();
      const free = spin(100);
      limit.add(free.pid);
      await free.exited;
      expect(limit.throttling().throttledPeriods).toBe(capped.throttledPeriods);
    } finally {
      limit.remove();
    }
  });

  it("refuses a share outside 1..1000 and a name that is not a plain label", () => {
    expect(() => CpuLimit.create("Bad Name", 10)).toThrow(/name must be/);
    const limit = CpuLimit.create(`range-${process.pid}`, 10);
    try {
      expect(() => limit.setPct(0)).toThrow(/pct must be an integer in 1\.\.1000/);
      expect(() => limit.setPct(1.5)).toThrow(/pct must be/);
    } finally {
      limit.remove();
    }
  });
});
