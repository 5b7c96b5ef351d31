/**
 * A network lab: n hosts, each a Linux network namespace with its own
 * address, joined by veth pairs to one bridge, reachable from the namespace
 * that built the lab; commands run on hosts; faults between hosts made by
 * the kernel. The plan (names, addresses) is `src/core/lab-plan.ts`; the
 * rules each fault becomes are `src/core/faults.ts`; this file builds,
 * changes and tears down.
 *
 * Lifetime: the process that creates a lab owns it and tears it down on
 * `destroy()`, and on exit if it forgets (an `exit` handler runs the same
 * teardown synchronously). A lab whose owner died without either (kill -9,
 * a crashed test worker) is a leftover: the next `NetLab.create` (or
 * `heck-net clean`) finds it by its owner record and removes it, and also
 * removes any `hecklab-` namespace no live lab claims.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, readdirSync, readlinkSync, statSync } from "node:fs";
import path from "node:path";
import type { PartitionSpec } from "@heck/sim";
import {
  HEALTHY,
  IPTABLES_CHAIN,
  QUEUE_NUMBER,
  describeFaults,
  healed,
  renderHostRules,
  withImpairment,
  withOneWayCut,
  withPartition,
  type Backend,
  type FaultState,
  type HostRules,
  type Impairment,
} from "../core/faults.ts";
import { defaultHostNames, hostOf, labIndexOfNetns, LAB_PREFIX, planLab, type HostPlan, type LabPlan } from "../core/lab-plan.ts";
import { configureDelayQueue, startDelayQueue } from "./delay-queue.ts";
import { claimedIndexes, claimIndex, labDir, labIsLive, readOwner, readState, removeState, withLabLock, writeState, type LabState } from "./state.ts";
import { delayQueueSupport, inNetns, isAlive, labSupport, processStartTime, run, runSync } from "./system.ts";

/** Options of {@link NetLab.create}. */
export interface NetLabOptions {
  /** Host names, or a count for h1..hn. */
  hosts: number | readonly string[];
  /** Use lab index k (subnet 10.77.k.0/24); default the lowest free one. */
  index?: number;
  /** "auto" (default) uses netem when the kernel has it, the queue backend otherwise. HECK_NET_BACKEND overrides "auto". */
  backend?: "auto" | Backend;
  /** Seed of the delay queues' random draws. Default 1. */
  seed?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** A running lab as `heck-net ls` shows it. */
export interface LabSummary {
  name: string;
  index: number;
  live: boolean;
  ownerPid: number | null;
  backend: Backend | null;
  hosts: Array<Pick<HostPlan, "name" | "netns" | "address">>;
  rootAddress: string | null;
  faults: string[];
}

/** One host's namespace prefix for process listings and cleanup. */
const netnsDir = "/run/netns";

/** Thrown when this machine cannot build a lab; the message says why and what to install. */
export class LabUnsupportedError extends Error {
  override name = "LabUnsupportedError";
}

/** A lab; create one with {@link NetLab.create}, or {@link NetLab.attach} to one another process owns. */
export class NetLab {
  private exitHandler: (() => void) | undefined;
  private destroyed = false;
  /** Children this object spawned: killed at teardown even if they have not entered their namespace yet. */
  private readonly children = new Set<ChildProcess>();

  private constructor(
    private currentPlan: LabPlan,
    private currentBackend: Backend,
    /** True for the process that created the lab (and tears it down). */
    readonly owned: boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** Builds a lab; rejects with {@link LabUnsupportedError} when the machine cannot (not root, no `ip`...). */
  static async create(options: NetLabOptions): Promise<NetLab> {
    const support = labSupport();
    if (!support.ok) throw new LabUnsupportedError(support.reason);
    const log = options.log ?? (() => undefined);
    const names = typeof options.hosts === "number" ? defaultHostNames(options.hosts) : [...options.hosts];
    planLab(1, names); // validates the names before anything is built
    const removed = cleanLeftovers(log);
    if (removed.length > 0) log(`removed leftovers of labs whose owner is gone: ${removed.join(", ")}`);
    const index = claimIndex(options.index, (k) => {
      destroyLabSync(k, log);
      return true;
    });
    if (index === undefined) {
      const owner = options.index !== undefined ? readOwner(options.index) : undefined;
      throw new Error(options.index !== undefined ? `lab ${options.index} is in use (owner pid ${owner?.pid ?? "?"}); pick another --lab or stop that one` : "no free lab index (1-254 are all in use)");
    }
    const plan = planLab(index, names);
    const lab = new NetLab(plan, "queue", true, log);
    lab.exitHandler = () => {
      lab.killChildren();
      destroyLabSync(index, () => undefined);
    };
    process.once("exit", lab.exitHandler);
    try {
      await lab.build();
      const chosen = await chooseBackend(plan, options.backend ?? "auto");
      lab.currentBackend = chosen.backend;
      if (chosen.backend === "queue") await lab.prepareQueueBackend();
      writeState({
        version: 1,
        plan,
        backend: chosen.backend,
        backendReason: chosen.reason,
        owner: { pid: process.pid, startTime: processStartTime(process.pid) ?? "0" },
        createdAt: new Date().toISOString(),
        seed: options.seed ?? 1,
        netnsInodes: netnsInodesOf([plan.switchNetns, ...plan.hosts.map((h) => h.netns)]),
        faults: HEALTHY,
        queues: {},
      });
      log(`${plan.name}: ${plan.hosts.length} hosts on ${plan.subnet} (this namespace is ${plan.rootAddress}); faults by ${chosen.backend}: ${chosen.reason}`);
    } catch (e) {
      process.off("exit", lab.exitHandler);
      destroyLabSync(index, log);
      throw e;
    }
    return lab;
  }

  /** A lab another process owns: the only live one, or lab `index`. For `heck-net` commands. */
  static attach(index?: number): NetLab {
    const live = claimedIndexes().filter((k) => labIsLive(k) && readState(k) !== undefined);
    const k = index ?? (live.length === 1 ? live[0] : undefined);
    if (k === undefined) {
      throw new Error(
        live.length === 0 ? "no lab is running: start one with `pnpm heck-net up --hosts 3` (or a cluster command with --netns)" : `several labs are running (${live.map((x) => `hecklab-${x}`).join(", ")}): choose one with --lab <k>`,
      );
    }
    const state = readState(k);
    if (state === undefined || !labIsLive(k)) throw new Error(`lab ${k} is not running${state !== undefined ? " (its owner is gone: `pnpm heck-net clean` removes it)" : ""}`);
    return new NetLab(state.plan, state.backend, false, () => undefined);
  }

  /** Every lab with state, live or leftover. */
  static list(): LabSummary[] {
    return claimedIndexes().map((k) => {
      const s = readState(k);
      const owner = readOwner(k);
      return {
        name: `${LAB_PREFIX}-${k}`,
        index: k,
        live: labIsLive(k),
        ownerPid: owner?.pid ?? null,
        backend: s?.backend ?? null,
        hosts: (s?.plan.hosts ?? []).map(({ name, netns, address }) => ({ name, netns, address })),
        rootAddress: s?.plan.rootAddress ?? null,
        faults: s ? describeFaults(s.faults) : [],
      };
    });
  }

  /** Names and addresses (hosts added later included). */
  get plan(): LabPlan {
    return this.currentPlan;
  }

  /** Which mechanism makes delay, loss and duplication. */
  get backend(): Backend {
    return this.currentBackend;
  }

  /** `hecklab-<k>`. */
  get name(): string {
    return this.plan.name;
  }

  /** The hosts, in creation order. */
  get hosts(): readonly HostPlan[] {
    return this.plan.hosts;
  }

  /** This namespace's address on the lab: what hosts use to reach a server running here (a fleet, etcd). */
  get rootAddress(): string {
    return this.plan.rootAddress;
  }

  /** The host named `name` (RangeError naming the hosts if there is none). */
  host(name: string): HostPlan {
    return hostOf(this.plan, name);
  }

  /**
   * Starts `command` on host `name` (through `ip netns exec`, which execs
   * it: the child's pid is the command's own, so signals reach it). Options
   * are `child_process.spawn`'s.
   */
  spawn(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const [cmd, argv] = inNetns(this.host(name).netns, command, args);
    const child = spawn(cmd, argv, options);
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /** Runs a command on host `name` to completion; resolves with its stdout. */
  exec(name: string, command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const [cmd, argv] = inNetns(this.host(name).netns, command, args);
    return run(cmd, argv, options);
  }

  /** The current faults. */
  faults(): FaultState {
    return readState(this.plan.index)?.faults ?? HEALTHY;
  }

  /** Splits the hosts into groups that cannot reach each other (unlisted hosts form one more group); replaces earlier cuts. */
  partition(groups: readonly (readonly string[])[]): Promise<FaultState> {
    return this.applyPartition({ kind: "groups", groups: groups.map((g) => [...g]) });
  }

  /** Cuts one host off from every other host (not from this namespace). */
  isolate(name: string): Promise<FaultState> {
    return this.partition([[name]]);
  }

  /** Two sides that cannot reach each other, and `bridge`, which reaches both; replaces earlier cuts. */
  bridge(left: readonly string[], bridge: string, right: readonly string[]): Promise<FaultState> {
    return this.applyPartition({ kind: "bridge", left: [...left], bridge, right: [...right] });
  }

  /** Any partition shape from `@heck/sim` (groups, one-way, bridge); replaces earlier cuts. */
  applyPartition(spec: PartitionSpec): Promise<FaultState> {
    return this.change((s) => withPartition(s, this.plan, spec));
  }

  /** Adds a one-way cut: packets from `from` to `to` are lost, the other way still works. */
  cutOneWay(from: readonly string[], to: readonly string[]): Promise<FaultState> {
    return this.change((s) => withOneWayCut(s, this.plan, from, to));
  }

  /** Sets loss, delay, jitter, duplication or reordering on every link from `from` to `to` (default: all hosts). */
  impair(change: Partial<Impairment>, links: { from?: readonly string[]; to?: readonly string[] } = {}): Promise<FaultState> {
    return this.change((s) => withImpairment(s, this.plan, change, links.from, links.to));
  }

  /** Removes cuts and impairments (or only one kind). */
  heal(what: "all" | "cuts" | "impairments" = "all"): Promise<FaultState> {
    return this.change((s) => healed(s, what));
  }

  /**
   * Adds a host to a running lab (owner only): the next address on the
   * subnet, faults as they are (a new host starts with perfect links).
   */
  async addHost(name: string): Promise<HostPlan> {
    if (!this.owned) throw new Error(`${this.name}: only its owner adds hosts`);
    return withLabLock(this.plan.index, async () => {
      const state = readState(this.plan.index);
      if (state === undefined) throw new Error(`${this.name} has no state (torn down?)`);
      const plan = planLab(this.plan.index, [...state.plan.hosts.map((h) => h.name), name]);
      const h = hostOf(plan, name);
      await this.buildHost(plan, h);
      this.currentPlan = plan;
      if (this.backend === "queue" && delayQueueSupport() === undefined) await this.prepareQueueChain(h);
      state.plan = plan;
      state.netnsInodes = { ...state.netnsInodes, ...netnsInodesOf([h.netns]) };
      writeState(state);
      return h;
    });
  }

  /** Kernel counters of the delay queues (queue backend): packets held, released, overflowed, per host. */
  async delayQueueStats(): Promise<Record<string, Record<string, number>>> {
    const { delayQueueStats } = await import("./delay-queue.ts");
    const state = readState(this.plan.index);
    const out: Record<string, Record<string, number>> = {};
    for (const [host, q] of Object.entries(state?.queues ?? {})) out[host] = await delayQueueStats(q.control);
    return out;
  }

  /** Tears the lab down: kills what runs on its hosts, deletes its namespaces and state. Only the owner may. */
  async destroy(): Promise<void> {
    if (!this.owned) throw new Error(`${this.name} belongs to pid ${readOwner(this.plan.index)?.pid ?? "?"}; stop that process (or \`heck-net down\`) instead`);
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.exitHandler) process.off("exit", this.exitHandler);
    this.killChildren();
    destroyLabSync(this.plan.index, this.log);
  }

  /**
   * A child spawned a moment ago may still be `ip` in this namespace, not
   * yet inside its host's: a scan of the lab's namespaces would miss it, so
   * the ones this object started are killed by handle (never a recycled
   * pid: an exited child is no longer in the set).
   */
  private killChildren(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    this.children.clear();
  }

  // -------------------------------------------------------------------------

  private async change(next: (s: FaultState) => FaultState): Promise<FaultState> {
    if (this.destroyed) throw new Error(`${this.name} has been torn down`);
    return withLabLock(this.plan.index, async () => {
      const state = readState(this.plan.index);
      if (state === undefined) throw new Error(`${this.name} has no state (torn down?)`);
      this.currentPlan = state.plan; // the owner may have added hosts since this object was made
      const before = state.faults;
      const after = next(before);
      // Only hosts whose rules change are touched: a partition of 2 hosts out of 7 costs 2 hosts' updates... plus their peers'.
      await Promise.all(
        this.plan.hosts.map(async (h) => {
          const old = renderHostRules(this.plan, before, h.name, this.backend);
          const now = renderHostRules(this.plan, after, h.name, this.backend);
          if (JSON.stringify(old) === JSON.stringify(now)) return;
          await this.applyHost(state, h, now, old);
        }),
      );
      state.faults = after;
      writeState(state);
      return after;
    });
  }

  private async applyHost(state: LabState, h: HostPlan, rules: HostRules, old: HostRules): Promise<void> {
    if (this.backend === "queue") {
      const adding = rules.queueRules.length > 0;
      if (adding) {
        // Listener first, then the rules that send packets to it: a queued packet with nobody reading is dropped.
        let q = state.queues[h.name];
        if (q === undefined || !isAlive(q.pid, q.startTime)) {
          const idx = this.plan.hosts.indexOf(h);
          q = await startDelayQueue(h.netns, path.join(labDir(this.plan.index), `${h.name}.dq`), state.seed * 1000 + idx, path.join(labDir(this.plan.index), `${h.name}.dq.log`));
          state.queues[h.name] = q;
        }
        await configureDelayQueue(q.control, rules.queueRules);
      }
      if (JSON.stringify(old.queueDestinations) !== JSON.stringify(rules.queueDestinations)) {
        const restore = ["*mangle", `:${IPTABLES_CHAIN} - [0:0]`, ...rules.queueDestinations.map((a) => `-A ${IPTABLES_CHAIN} -d ${a}/32 -j NFQUEUE --queue-num ${QUEUE_NUMBER}`), "COMMIT", ""].join("\n");
        await this.exec(h.name, "iptables-restore", ["-w", "--noflush"], { input: restore });
      }
      if (!adding && state.queues[h.name] !== undefined && isAlive(state.queues[h.name]!.pid, state.queues[h.name]!.startTime)) await configureDelayQueue(state.queues[h.name]!.control, []);
    } else {
      await this.exec(h.name, "tc", ["qdisc", "del", "dev", "eth0", "root"]).catch(() => undefined); // none yet
      if (rules.tcBatch.length > 0) await this.exec(h.name, "tc", ["-batch", "-"], { input: rules.tcBatch.join("\n") + "\n" });
    }
    await this.exec(h.name, "nft", ["-f", "-"], { input: rules.nft });
  }

  private async build(): Promise<void> {
    const p = this.plan;
    const sh = (args: string[]) => run("ip", args);
    const sw = (args: string[]) => run("ip", ["-n", p.switchNetns, ...args]);
    // A root link left from an earlier lab with this index would block the name.
    runSync("ip", ["link", "del", p.rootLink]);
    await sh(["netns", "add", p.switchNetns]);
    await sw(["link", "set", "lo", "up"]);
    await sw(["link", "add", "br0", "type", "bridge"]);
    await sw(["link", "set", "br0", "up"]);
    await sh(["link", "add", p.rootLink, "type", "veth", "peer", "name", "uplink", "netns", p.switchNetns]);
    await sw(["link", "set", "uplink", "master", "br0", "up"]);
    await sh(["addr", "add", `${p.rootAddress}/24`, "dev", p.rootLink]);
    await sh(["link", "set", p.rootLink, "up"]);
    // Hosts in parallel: each is a namespace, a veth pair, an address.
    await Promise.all(p.hosts.map((h) => this.buildHost(p, h)));
  }

  private async buildHost(p: LabPlan, h: HostPlan): Promise<void> {
    const sw = (args: string[]) => run("ip", ["-n", p.switchNetns, ...args]);
    const hn = (args: string[]) => run("ip", ["-n", h.netns, ...args]);
    await run("ip", ["netns", "add", h.netns]);
    await hn(["link", "set", "lo", "up"]);
    await sw(["link", "add", h.switchLink, "type", "veth", "peer", "name", "eth0", "netns", h.netns]);
    await sw(["link", "set", h.switchLink, "master", "br0", "up"]);
    await hn(["addr", "add", `${h.address}/24`, "dev", "eth0"]);
    await hn(["link", "set", "eth0", "up"]);
  }

  private prepareQueueChain(h: HostPlan): Promise<string> {
    return this.exec(h.name, "iptables-restore", ["-w", "--noflush"], { input: ["*mangle", `:${IPTABLES_CHAIN} - [0:0]`, `-A OUTPUT -j ${IPTABLES_CHAIN}`, "COMMIT", ""].join("\n") });
  }

  private async prepareQueueBackend(): Promise<void> {
    const missing = delayQueueSupport();
    if (missing !== undefined) {
      this.log(`warning: ${missing}; partitions, loss and duplication work, delay/jitter/reordering will be refused`);
      return;
    }
    await Promise.all(this.plan.hosts.map((h) => this.prepareQueueChain(h)));
  }
}

/** Picks the backend: netem if `tc qdisc add ... netem` works in the lab's switch namespace, else the queue. */
async function chooseBackend(plan: LabPlan, wanted: "auto" | Backend): Promise<{ backend: Backend; reason: string }> {
  const env = process.env.HECK_NET_BACKEND;
  const choice = wanted === "auto" && (env === "netem" || env === "queue") ? env : wanted;
  let netemError = "";
  try {
    await run("ip", ["netns", "exec", plan.switchNetns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]);
    await run("ip", ["netns", "exec", plan.switchNetns, "tc", "qdisc", "del", "dev", "lo", "root"]);
  } catch (e) {
    netemError = (e as Error).message;
  }
  const hasNetem = netemError === "";
  if (choice === "netem") {
    if (!hasNetem) throw new Error(`backend netem: this kernel cannot add a netem qdisc (${netemError.split("\n")[0]}); use --backend queue or auto`);
    return { backend: "netem", reason: "chosen (the kernel has sch_netem)" };
  }
  if (choice === "queue") return { backend: "queue", reason: `chosen${hasNetem ? " although the kernel has sch_netem" : ""}` };
  return hasNetem
    ? { backend: "netem", reason: "the kernel has sch_netem" }
    : { backend: "queue", reason: "sch_netem is not in this kernel: loss and duplication by nftables, delay/jitter/reordering by heck-delay-queue (NFQUEUE)" };
}

/** The nsfs inode of each named namespace that is mounted here. */
function netnsInodesOf(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) {
    try {
      out[n] = statSync(path.join(netnsDir, n)).ino;
    } catch {
      // not mounted here
    }
  }
  return out;
}

/** Pids of every process whose network namespace is one of `inodes` (what `ip netns pids` does, by inode). */
function pidsInNetns(inodes: ReadonlySet<number>): number[] {
  if (inodes.size === 0) return [];
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${e}/ns/net`));
      if (m && inodes.has(Number(m[1]))) out.push(Number(e));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

/** Our namespaces of lab k that exist as entries in /run/netns (live or stale). */
function labNetnsNames(index: number): string[] {
  try {
    return readdirSync(netnsDir).filter((n) => labIndexOfNetns(n) === index);
  } catch {
    return [];
  }
}

/**
 * Tears lab k down, synchronously (it also runs in exit handlers): every
 * process inside its namespaces gets SIGKILL (only processes in the lab's
 * own namespaces, which the lab started, are found), then the namespaces,
 * the uplink and the state directory go.
 */
export function destroyLabSync(index: number, log: (line: string) => void): void {
  const state = readState(index);
  const names = new Set(labNetnsNames(index));
  for (const h of state?.plan.hosts ?? []) names.add(h.netns);
  if (state) names.add(state.plan.switchNetns);
  const inodes = new Set([...Object.values(state?.netnsInodes ?? {}), ...Object.values(netnsInodesOf([...names]))]);
  // The lab's own process never lives in a lab namespace, but guard anyway.
  for (const pid of pidsInNetns(inodes)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  runSync("ip", ["link", "del", `${LAB_PREFIX}${index}`]);
  for (const ns of names) if (existsSync(path.join(netnsDir, ns))) runSync("ip", ["netns", "del", ns]);
  removeState(index);
  log(`${LAB_PREFIX}-${index}: torn down`);
}

/**
 * Removes leftovers: labs whose owner is gone, and `hecklab-<k>-*`
 * namespaces (and `hecklab<k>` links here) that no live lab claims. Touches
 * nothing without the lab prefix. Returns the lab names removed.
 */
export function cleanLeftovers(log: (line: string) => void = () => undefined): string[] {
  const removed: string[] = [];
  for (const k of claimedIndexes()) {
    if (labIsLive(k)) continue;
    destroyLabSync(k, log);
    removed.push(`${LAB_PREFIX}-${k}`);
  }
  let entries: string[];
  try {
    entries = readdirSync(netnsDir);
  } catch {
    entries = []; // no namespaces at all
  }
  const orphans = new Set<number>();
  for (const n of entries) {
    const k = labIndexOfNetns(n);
    if (k !== undefined && !existsSync(labDir(k))) orphans.add(k);
  }
  // Uplinks in this namespace whose lab is gone (their switch namespace was removed from another mount namespace).
  const links = runSync("ip", ["-o", "link", "show"]);
  for (const m of links.stdout.matchAll(/^\d+: hecklab(\d{1,3})[@:]/gm)) {
    const k = Number(m[1]);
    if (!existsSync(labDir(k))) orphans.add(k);
  }
  for (const k of orphans) {
    destroyLabSync(k, log);
    removed.push(`${LAB_PREFIX}-${k}`);
  }
  return removed;
}
