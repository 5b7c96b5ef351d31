/**
 * Starts a real single-member etcd 3.4 (Debian's etcd-server) on loopback in
 * a temp dir, for the `--store etcd` tests. Stopped by PID, dir removed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const ETCD_BIN = "/usr/bin/etcd";

export interface RunningEtcd {
  endpoint: string;
  pid: number;
  stop(): Promise<void>;
}

/** True when the etcd binary is installed (scripts/ensure-system-deps.sh installs it). */
export function etcdAvailable(): boolean {
  return existsSync(ETCD_BIN);
}

export async function startEtcd(clientPort: number, peerPort: number): Promise<RunningEtcd> {
  const dir = mkdtempSync(join(tmpdir(), "heck-v2-etcd-"));
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child: ChildProcess = spawn(
    ETCD_BIN,
    [
      "--name", "e1", "--data-dir", join(dir, "data"),
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", `e1=${peer}`, "--initial-cluster-state", "new",
      "--logger", "zap", "--log-level", "error",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, "SIGTERM");
      const killer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, "SIGKILL"), 3_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`etcd exited early: ${stderr}`);
    }
    try {
      const res = await fetch(`${client}/health`);
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not become healthy on ${client}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint: `127.0.0.1:${clientPort}`, pid: child.pid!, stop };
}
