/**
 * Starting the lab probe (probe-server.mjs) on a host and asking it to
 * measure a link, for tests of the lab and of its faults.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { NetLab } from "../../src/io/lab.ts";

const SCRIPT = fileURLToPath(new URL("./probe-server.mjs", import.meta.url));

/** A probe running on one host. */
export interface Probe {
  host: string;
  address: string;
  child: ChildProcess;
  /** The pid the probe reports for itself. */
  pid: number;
  /** Sends `count` UDP packets to another probe's echo; replies in arrival order with round-trip times. */
  udp(to: string, count: number, options?: { intervalMs?: number; waitMs?: number }): Promise<{ sent: number; replies: Array<{ seq: number; rttMs: number }> }>;
  /** Opens a TCP connection to another probe's echo: connected, timeout (a silent drop) or refused. */
  tcp(to: string, timeoutMs?: number): Promise<{ result: string; ms: number }>;
}

async function call<T>(address: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`http://${address}:9100${path}`, { method: body === undefined ? "GET" : "POST", body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  return (await res.json()) as T;
}

/** Starts a probe on `host` and resolves once it answers. */
export async function startProbe(lab: NetLab, host: string): Promise<Probe> {
  const h = lab.host(host);
  const child = lab.spawn(host, process.execPath, [SCRIPT, h.address], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`probe on ${host} exited (${code})`)));
  });
  const { pid } = await call<{ pid: number }>(h.address, "/");
  const addr = (name: string) => lab.host(name).address;
  return {
    host,
    address: h.address,
    child,
    pid,
    udp: (to, count, o = {}) => call(h.address, "/udp", { to: addr(to), count, ...o }),
    tcp: (to, timeoutMs = 1000) => call(h.address, "/tcp", { to: addr(to), timeoutMs }),
  };
}
