import { fork, type ChildProcess } from "node:child_process";
import { healthyBehaviour, parseBehaviour, type Behaviour } from "../core/behaviour.ts";
import { Fleet, FleetInputError, type FleetOptions, type FleetStats, type OriginSnapshot } from "./fleet.ts";

/**
 * What the control API needs of a fleet: {@link Fleet} (one process) and
 * {@link SplitFleet} (worker processes) both provide it. Methods that must
 * ask another process return a promise.
 */
export interface FleetControl {
  readonly count: number;
  setBehaviour(i: number, input: unknown): Promise<OriginSnapshot>;
  setMany(indices: readonly number[], input: unknown): Promise<void>;
  reset(): Promise<void>;
  resetCounts(): void | Promise<void>;
  origin(i: number): OriginSnapshot | Promise<OriginSnapshot>;
  origins(): OriginSnapshot[] | Promise<OriginSnapshot[]>;
  requestCounts(): number[] | Promise<number[]>;
  stats(): FleetStats | Promise<FleetStats>;
}

/** The environment variable that makes a forked `heck-fleet` serve a slice as a worker. */
export const FLEET_WORKER_ENV = "HECK_FLEET_WORKER";

/** Options of {@link SplitFleet.start}: a fleet's, plus how to split it. */
export interface SplitFleetOptions extends Omit<FleetOptions, "initial" | "listenConcurrency"> {
  /** Worker processes; origins are split into this many contiguous slices (2 to 64). */
  workers: number;
  /** The script each worker runs (forked with {@link FLEET_WORKER_ENV} set): the `heck-fleet` entry, which then calls {@link runFleetWorker}. */
  workerEntry: string;
  /** Initial behaviours, applied in order before `start` resolves. */
  initial?: ReadonlyArray<{ indices: readonly number[]; behaviour: unknown }>;
  /** How long a read of counts or stats waits for a worker before answering with that worker's last figures. Default 250 ms. */
  answerWithinMs?: number;
  /** Called when a worker exits while the fleet is open (its origins are gone). */
  onWorkerExit?: (worker: number, code: number | null, signal: NodeJS.Signals | null) => void;
}

/** Messages from the primary to a worker. */
type ToWorker =
  | { type: "start"; id: number; options: FleetOptions }
  | { type: "set"; id: number; indices: number[]; behaviour: unknown }
  | { type: "counts"; id: number }
  | { type: "reset-counts"; id: number }
  | { type: "stats"; id: number }
  | { type: "close"; id: number };

/** Messages from a worker to the primary. */
type FromWorker =
  | { type: "ready"; id: number; ports: number[]; maxConnections: number }
  | { type: "counts"; id: number; requests: number[]; connections: number[] }
  | { type: "stats"; id: number; stats: FleetStats }
  | { type: "ok"; id: number }
  | { type: "error"; id: number; message: string; input: boolean };

interface Slice {
  child: ChildProcess;
  first: number;
  count: number;
  stats: FleetStats | undefined;
}

/**
 * A fleet whose origins are served by worker processes, while this process
 * only answers the control API. One process serving every origin competes
 * with its own control API for one event loop: at thousands of checks a
 * second on a busy machine the control API answered after seconds, so a
 * soak could not read its counters or flip an origin. Split, the control
 * process has little to do and answers at once; a read of counts waits at
 * most `answerWithinMs` for a busy worker and otherwise answers with that
 * worker's last counts (late answers still land for the next read).
 *
 * Each worker is a {@link Fleet} over a contiguous slice (origin i still
 * listens on basePort + i), so behaviours, the connection budget and the
 * descriptor limit are per worker. This process keeps a copy of every
 * origin's behaviour and port, so a snapshot needs only the counts.
 */
export class SplitFleet implements FleetControl {
  readonly count: number;
  readonly host: string;
  maxConnections = 0;
  private readonly scheme: "http" | "https";
  private readonly slices: Slice[] = [];
  private readonly ports: Int32Array;
  private readonly requests: Float64Array;
  private readonly connections: Float64Array;
  private readonly behaviours: Behaviour[];
  private readonly waiting = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void; slice: Slice }>();
  private nextId = 1;
  private queue: Promise<unknown> = Promise.resolve();
  private closing = false;

  private constructor(private readonly o: SplitFleetOptions) {
    this.count = o.count;
    this.host = o.host ?? "127.0.0.1";
    this.scheme = o.tls ? "https" : "http";
    this.ports = new Int32Array(o.count);
    this.requests = new Float64Array(o.count);
    this.connections = new Float64Array(o.count);
    this.behaviours = Array.from({ length: o.count }, () => healthyBehaviour());
  }

  /** Forks the workers and resolves once every origin listens; rejects (after stopping the workers) if one cannot start. */
  static async start(o: SplitFleetOptions): Promise<SplitFleet> {
    const errors: string[] = [];
    if (!Number.isInteger(o.count) || o.count < 1 || o.count > 20_000) errors.push(`count: must be an integer from 1 to 20000, got ${String(o.count)}`);
    if (!Number.isInteger(o.workers) || o.workers < 2 || o.workers > 64) errors.push(`workers: must be an integer from 2 to 64, got ${String(o.workers)}`);
    else if (o.workers > o.count) errors.push(`workers: ${o.workers} is more than the ${o.count} origins`);
    const basePort = o.basePort ?? 0;
    if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535) errors.push(`basePort: must be an integer from 0 to 65535, got ${String(basePort)}`);
    else if (basePort > 0 && basePort + o.count - 1 > 65535) errors.push(`basePort: ${basePort} + count ${o.count} runs past port 65535`);
    if (errors.length > 0) throw new FleetInputError(errors);
    const fleet = new SplitFleet(o);
    try {
      await fleet.forkWorkers(basePort);
      for (const init of o.initial ?? []) await fleet.setMany(init.indices, init.behaviour);
    } catch (err) {
      await fleet.close();
      throw err;
    }
    return fleet;
  }

  /** The worker processes' PIDs, in slice order. */
  get workerPids(): number[] {
    return this.slices.map((s) => s.child.pid!);
  }

  /** The port origin `i` listens on. */
  port(i: number): number {
    this.checkIndex(i);
    return this.ports[i]!;
  }

  /** The URL of origin `i`; any path is answered the same way. */
  url(i: number, path = "/health"): string {
    return `${this.scheme}://${this.host}:${this.port(i)}${path}`;
  }

  async setBehaviour(i: number, input: unknown): Promise<OriginSnapshot> {
    this.checkIndex(i);
    await this.setMany([i], input);
    return this.origin(i);
  }

  /** Validates once here, then each worker applies it to its part of `indices`. */
  async setMany(indices: readonly number[], input: unknown): Promise<void> {
    for (const i of indices) this.checkIndex(i);
    const parsed = parseBehaviour(input);
    if (!parsed.ok) throw new FleetInputError(parsed.errors);
    await this.mutate(async () => {
      await Promise.all(
        this.slices.map((s) => {
          const local = indices.filter((i) => i >= s.first && i < s.first + s.count).map((i) => i - s.first);
          return local.length === 0 ? undefined : this.ask(s, { type: "set", id: 0, indices: local, behaviour: input });
        }),
      );
      for (const i of indices) this.behaviours[i] = { ...parsed.value };
    });
  }

  async reset(): Promise<void> {
    await this.setMany(
      Array.from({ length: this.count }, (_, i) => i),
      { mode: "healthy" },
    );
    await this.resetCounts();
  }

  async resetCounts(): Promise<void> {
    await Promise.all(this.slices.map((s) => this.ask(s, { type: "reset-counts", id: 0 })));
    // Each worker answered its last counts before this acknowledgement (one ordered channel), so nothing older lands after it.
    this.requests.fill(0);
    this.connections.fill(0);
  }

  async origin(i: number): Promise<OriginSnapshot> {
    this.checkIndex(i);
    await this.refreshCounts();
    return this.snapshot(i);
  }

  async origins(): Promise<OriginSnapshot[]> {
    await this.refreshCounts();
    return Array.from({ length: this.count }, (_, i) => this.snapshot(i));
  }

  async requestCounts(): Promise<number[]> {
    await this.refreshCounts();
    return Array.from(this.requests);
  }

  async stats(): Promise<FleetStats> {
    await Promise.all(this.slices.map((s) => this.askWithin(s, { type: "stats", id: 0 })));
    const byMode: Record<string, number> = {};
    for (const b of this.behaviours) byMode[b.mode] = (byMode[b.mode] ?? 0) + 1;
    const sum = (f: (x: FleetStats) => number) => this.slices.reduce((a, s) => a + (s.stats ? f(s.stats) : 0), 0);
    return {
      count: this.count,
      listening: this.behaviours.filter((b) => b.mode !== "closed").length,
      openConnections: sum((x) => x.openConnections),
      maxConnections: this.maxConnections,
      evictions: sum((x) => x.evictions),
      rejections: sum((x) => x.rejections),
      totalRequests: this.requests.reduce((a, b) => a + b, 0),
      openFilesLimit: Math.min(...this.slices.map((s) => s.stats?.openFilesLimit ?? Number.MAX_SAFE_INTEGER)),
      byMode,
    };
  }

  /** Stops every worker (each closes its listeners and connections), waiting at most 5 s before killing one. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.queue.catch(() => undefined);
    await Promise.all(
      this.slices.map(async (s) => {
        if (s.child.exitCode !== null || s.child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => s.child.once("exit", () => resolve()));
        this.ask(s, { type: "close", id: 0 }).catch(() => undefined);
        const timer = setTimeout(() => s.child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }),
    );
    for (const w of this.waiting.values()) w.reject(new Error("fleet closed"));
    this.waiting.clear();
  }

  private async forkWorkers(basePort: number): Promise<void> {
    const k = this.o.workers;
    const ready: Array<Promise<void>> = [];
    for (let w = 0; w < k; w++) {
      const first = Math.floor((w * this.count) / k);
      const count = Math.floor(((w + 1) * this.count) / k) - first;
      const child = fork(this.o.workerEntry, [], {
        env: { ...process.env, [FLEET_WORKER_ENV]: "1" },
        serialization: "advanced",
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      const slice: Slice = { child, first, count, stats: undefined };
      this.slices.push(slice);
      child.on("message", (m: FromWorker) => this.onMessage(slice, m));
      child.on("exit", (code, signal) => {
        for (const [id, pending] of this.waiting) {
          if (pending.slice !== slice) continue;
          this.waiting.delete(id);
          pending.reject(new Error(`fleet worker ${w} exited (${signal ?? `code ${String(code)}`})`));
        }
        if (!this.closing) this.o.onWorkerExit?.(w, code, signal);
      });
      const options: FleetOptions = {
        count,
        basePort: basePort === 0 ? 0 : basePort + first,
        firstIndex: first,
        host: this.host,
        ...(this.o.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: this.o.keepAliveTimeoutMs } : {}),
        ...(this.o.maxConnections !== undefined ? { maxConnections: Math.max(1, Math.floor(this.o.maxConnections / k)) } : {}),
        ...(this.o.tls ? { tls: this.o.tls } : {}),
      };
      ready.push(
        this.ask(slice, { type: "start", id: 0, options }).then((m) => {
          if (m.type !== "ready") throw new Error(`fleet worker ${w}: unexpected answer ${m.type}`);
          this.ports.set(m.ports, first);
          this.maxConnections += m.maxConnections;
        }),
      );
    }
    const results = await Promise.allSettled(ready);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  private onMessage(slice: Slice, m: FromWorker): void {
    // Counts and stats update the copy here even when their read has stopped waiting: the next read sees them.
    if (m.type === "counts") {
      this.requests.set(m.requests, slice.first);
      this.connections.set(m.connections, slice.first);
    } else if (m.type === "stats") slice.stats = m.stats;
    const w = this.waiting.get(m.id);
    if (!w) return;
    this.waiting.delete(m.id);
    if (m.type === "error") w.reject(m.input ? new FleetInputError([m.message]) : new Error(m.message));
    else w.resolve(m);
  }

  private ask(slice: Slice, m: ToWorker): Promise<FromWorker> {
    const id = this.nextId++;
    return new Promise<FromWorker>((resolve, reject) => {
      const entry = { resolve, reject, slice };
      this.waiting.set(id, entry);
      try {
        slice.child.send({ ...m, id });
      } catch (err) {
        this.waiting.delete(id);
        reject(err as Error);
      }
    });
  }

  /** Asks, but resolves after `answerWithinMs` regardless: the answer, when it comes, still updates the copy. */
  private askWithin(slice: Slice, m: ToWorker): Promise<void> {
    const within = this.o.answerWithinMs ?? 250;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, within);
      this.ask(slice, m).then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        () => {
          clearTimeout(timer);
          resolve();
        },
      );
    });
  }

  private async refreshCounts(): Promise<void> {
    await Promise.all(this.slices.map((s) => this.askWithin(s, { type: "counts", id: 0 })));
  }

  private snapshot(i: number): OriginSnapshot {
    const b = this.behaviours[i]!;
    return {
      index: i,
      host: this.host,
      port: this.ports[i]!,
      url: this.url(i),
      mode: b.mode,
      status: b.status,
      latencyMs: b.latencyMs,
      periodMs: b.periodMs,
      requests: this.requests[i]!,
      connections: this.connections[i]!,
      listening: b.mode !== "closed",
    };
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new FleetInputError([`index: must be an integer from 0 to ${this.count - 1}, got ${String(i)}`]);
  }

  private mutate<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The worker side of {@link SplitFleet}: serves one slice as a {@link Fleet}
 * in this process, driven by the primary's messages. Exits when the primary
 * says close or goes away (its channel closes), so a killed primary leaves
 * no origins behind.
 */
export function runFleetWorker(): void {
  let fleet: Fleet | undefined;
  const send = (m: FromWorker) => process.send?.(m);
  const stop = async () => {
    await fleet?.close();
    process.exit(0);
  };
  process.on("disconnect", () => void stop());
  process.on("message", (m: ToWorker) => {
    void (async () => {
      try {
        switch (m.type) {
          case "start":
            fleet = await Fleet.start(m.options);
            return send({ type: "ready", id: m.id, ports: Array.from({ length: fleet.count }, (_, i) => fleet!.port(i)), maxConnections: fleet.maxConnections });
          case "set":
            await fleet!.setMany(m.indices, m.behaviour);
            return send({ type: "ok", id: m.id });
          case "counts":
            return send({ type: "counts", id: m.id, requests: fleet!.requestCounts(), connections: fleet!.connectionCounts() });
          case "reset-counts":
            fleet!.resetCounts();
            return send({ type: "ok", id: m.id });
          case "stats":
            return send({ type: "stats", id: m.id, stats: fleet!.stats() });
          case "close":
            send({ type: "ok", id: m.id });
            return await stop();
        }
      } catch (err) {
        send({ type: "error", id: m.id, message: (err as Error).message, input: err instanceof FleetInputError });
      }
    })();
  });
  // SIGTERM and SIGINT go to the primary, which closes the workers in order.
  process.on("SIGINT", () => undefined);
  process.on("SIGTERM", () => undefined);
}
