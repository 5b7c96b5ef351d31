/**
 * `@heck/net/testing`: for tests that need a real lab. `describeWithLab`
 * runs its suite only where a lab can be built (root, `ip`, `nft`); elsewhere
 * the suite is skipped under a name that says why, so a skip is visible in
 * the report and never passes silently. With HECK_NET_REQUIRED=1 (CI as
 * root sets it) a missing capability fails the suite instead.
 */
import { statSync } from "node:fs";
import { describe, it } from "vitest";
import { labSupport } from "../../src/io/system.ts";

const support = labSupport();

/** Why a lab cannot be built here, or undefined when it can. */
export const labUnsupportedReason: string | undefined = support.ok ? undefined : support.reason;

/** `describe` for suites that build labs; skipped (with the reason in its name) where labs cannot be built. */
export function describeWithLab(name: string, fn: () => void): void {
  if (labUnsupportedReason === undefined) describe(name, fn);
  else if (process.env.HECK_NET_REQUIRED === "1") {
    describe(name, () => {
      it("can build a network lab (HECK_NET_REQUIRED=1)", () => {
        throw new Error(labUnsupportedReason);
      });
    });
  } else describe.skip(`${name} [skipped: ${labUnsupportedReason}]`, fn);
}

export { startProbe, type Probe } from "./probe.ts";

/**
 * Whether process `pid` runs in the lab namespace `netns` (the same network
 * namespace inode as `ip netns exec <netns>` enters): how a test checks that
 * a `--netns` cluster's `--json` line names where each member really is.
 */
export function runsInNetns(pid: number, netns: string): boolean {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino === statSync(`/run/netns/${netns}`).ino;
  } catch {
    return false;
  }
}
