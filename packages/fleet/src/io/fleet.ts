import http from "node:http";
import https from "node:https";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { ConnectionBudget } from "../core/connection-budget.ts";
import { healthyBehaviour, parseBehaviour, planResponse, type Behaviour, type Mode } from "../core/behaviour.ts";
import { FD_RESERVE, openFilesLimit } from "./fd-limit.ts";

/** Options for {@link Fleet.start}. */
export interface FleetOptions {
  /** How many origins (1 to 20,000; mind the descriptor limit, see `maxConnections`). */
  count: number;
  /** Origin i listens on `basePort + i`. 0 (the default) lets the OS pick every port: best for tests. */
  basePort?: number;
  /** Address every origin listens on. Default 127.0.0.1. */
  host?: string;
  /**
   * Most accepted connections held open at once, over all origins. Default:
   * the open-files limit minus `count` (listeners) minus a reserve of 256.
   * Over budget, the most recently idled keep-alive connection is closed
   * (see ConnectionBudget); a checker reconnects on its next check.
   */
  maxConnections?: number;
  /** How long an idle keep-alive connection stays open (sent as `Keep-Alive: timeout=`). Default 5000 ms (Node's default). */
  keepAliveTimeoutMs?: number;
  /** Serve HTTPS with this key and certificate instead of HTTP. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Initial behaviours, applied in order before `start` resolves. */
  initial?: ReadonlyArray<{ indices: readonly number[]; behaviour: unknown }>;
  /** Origin i of this process is origin `firstIndex + i` of a fleet split over processes: bodies name that index. Default 0. */
  firstIndex?: number;
  /** Listens started in parallel during start-up. Default 256. */
  listenConcurrency?: number;
}

/** One origin as the control API reports it. */
export interface OriginSnapshot {
  index: number;
  host: string;
  port: number;
  url: string;
  mode: Mode;
  status: number;
  latencyMs: number;
  periodMs: number;
  /** Requests received since start or the last count reset. */
  requests: number;
  /** Connections accepted since start or the last count reset. */
  connections: number;
  /** False while the origin is `closed` (connections are refused). */
  listening: boolean;
}

/** Fleet-wide figures, for `GET /stats` and benchmarks. */
export interface FleetStats {
  count: number;
  listening: number;
  openConnections: number;
  maxConnections: number;
  evictions: number;
  rejections: number;
  totalRequests: number;
  openFilesLimit: number;
  byMode: Record<string, number>;
}

/** A bad behaviour or selection: the message names the field. The control API answers it with 400. */
export class FleetInputError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join("; "));
    this.name = "FleetInputError";
  }
}

interface ConnInfo {
  origin: number;
}

/**
 * A fleet of real HTTP origins in this process: one listening socket per
 * origin, all feeding one shared `http.Server` (connections are handed over
 * with `emit("connection")`), so 10,000 origins cost 10,000 descriptors and
 * one request handler. Start with {@link Fleet.start}; flip behaviours with
 * {@link Fleet.setBehaviour}; always {@link Fleet.close}.
 */
export class Fleet {
  readonly count: number;
  readonly host: string;
  readonly maxConnections: number;
  private readonly scheme: "http" | "https";
  private readonly ports: Int32Array;
  private readonly requests: Float64Array;
  private readonly accepted: Float64Array;
  private readonly behaviours: Behaviour[];
  private readonly sinceMs: Float64Array;
  private readonly listeners: Array<net.Server | undefined>;
  private readonly originConns: Array<Set<net.Socket> | undefined>;
  private readonly conns = new WeakMap<net.Socket, ConnInfo>();
  private readonly budget: ConnectionBudget<net.Socket>;
  private readonly server: http.Server;
  private readonly fdLimit: number;
  private readonly firstIndex: number;
  private readonly pendingTimers = new Set<NodeJS.Timeout>();
  /** Mutations (mode changes that open or close listeners) run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(opts: Required<Pick<FleetOptions, "count" | "host">> & FleetOptions) {
    this.count = opts.count;
    this.host = opts.host;
    this.fdLimit = openFilesLimit();
    this.firstIndex = opts.firstIndex ?? 0;
    this.maxConnections = opts.maxConnections ?? Math.max(64, this.fdLimit - opts.count - FD_RESERVE);
    this.budget = new ConnectionBudget(this.maxConnections);
    this.scheme = opts.tls ? "https" : "http";
    this.ports = new Int32Array(opts.count);
    this.requests = new Float64Array(opts.count);
    this.accepted = new Float64Array(opts.count);
    this.behaviours = Array.from({ length: opts.count }, () => healthyBehaviour());
    this.sinceMs = new Float64Array(opts.count).fill(performance.now());
    this.listeners = new Array(opts.count).fill(undefined);
    this.originConns = new Array(opts.count).fill(undefined);
    const serverOpts: http.ServerOptions = {
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5000,
      // A hanging origin must hang until the client gives up, so no server-side request timeout.
      requestTimeout: 0,
      headersTimeout: 30_000,
      noDelay: true,
    };
    this.server = opts.tls
      ? https.createServer({ ...serverOpts, key: opts.tls.key, cert: opts.tls.cert }, (req, res) => this.onRequest(req, res))
      : http.createServer(serverOpts, (req, res) => this.onRequest(req, res));
    this.server.on("clientError", (_err, socket) => socket.destroy());
  }

  /** Starts `count` origins and resolves once every one is listening. Rejects (after cleaning up) if a port is taken. */
  static async start(opts: FleetOptions): Promise<Fleet> {
    const errors: string[] = [];
    if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 20_000) errors.push(`count: must be an integer from 1 to 20000, got ${String(opts.count)}`);
    const basePort = opts.basePort ?? 0;
    if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535) errors.push(`basePort: must be an integer from 0 to 65535, got ${String(basePort)}`);
    else if (basePort > 0 && basePort + opts.count - 1 > 65535) errors.push(`basePort: ${basePort} + count ${opts.count} runs past port 65535`);
    if (opts.maxConnections !== undefined && (!Number.isInteger(opts.maxConnections) || opts.maxConnections < 1)) errors.push("maxConnections: must be a positive integer");
    if (errors.length > 0) throw new FleetInputError(errors);
    const fleet = new Fleet({ ...opts, host: opts.host ?? "127.0.0.1" });
    try {
      const concurrency = opts.listenConcurrency ?? 256;
      for (let start = 0; start < opts.count; start += concurrency) {
        const batch: Promise<void>[] = [];
        for (let i = start; i < Math.min(opts.count, start + concurrency); i++) batch.push(fleet.openListener(i, basePort === 0 ? 0 : basePort + i));
        await Promise.all(batch);
      }
      for (const init of opts.initial ?? []) await fleet.setMany(init.indices, init.behaviour);
    } catch (err) {
      await fleet.close();
      throw err;
    }
    return fleet;
  }

  /** The port origin `i` listens on (kept while it is `closed`, so it can reopen there). */
  port(i: number): number {
    this.checkIndex(i);
    return this.ports[i]!;
  }

  /** The URL of origin `i`; any path is answered the same way. */
  url(i: number, path = "/health"): string {
    return `${this.scheme}://${this.host}:${this.port(i)}${path}`;
  }

  /** Validates `input` (e.g. `{ mode: "failing" }`) and applies it to origin `i`. Throws {@link FleetInputError} on bad input. */
  async setBehaviour(i: number, input: unknown): Promise<OriginSnapshot> {
    this.checkIndex(i);
    await this.setMany([i], input);
    return this.origin(i);
  }

  /** Applies one behaviour to many origins at once (one validation, one mutation). */
  async setMany(indices: readonly number[], input: unknown): Promise<void> {
    for (const i of indices) this.checkIndex(i);
    const parsed = parseBehaviour(input);
    if (!parsed.ok) throw new FleetInputError(parsed.errors);
    const b = parsed.value;
    await this.mutate(async () => {
      const now = performance.now();
      const work: Promise<void>[] = [];
      for (const i of indices) {
        const wasClosed = this.behaviours[i]!.mode === "closed";
        this.behaviours[i] = { ...b };
        this.sinceMs[i] = now;
        if (b.mode === "closed" && !wasClosed) work.push(this.closeListener(i));
        else if (b.mode !== "closed" && wasClosed) work.push(this.openListener(i, this.ports[i]!));
        // Other changes keep open connections: a keep-alive connection simply
        // sees the new behaviour on its next request, as with a real deploy.
      }
      await Promise.all(work);
    });
  }

  /** Sets every origin back to healthy and zeroes the counts. */
  async reset(): Promise<void> {
    await this.setMany(
      Array.from({ length: this.count }, (_, i) => i),
      { mode: "healthy" },
    );
    this.resetCounts();
  }

  /** Zeroes request and connection counts. */
  resetCounts(): void {
    this.requests.fill(0);
    this.accepted.fill(0);
  }

  /** One origin's state and counts. */
  origin(i: number): OriginSnapshot {
    this.checkIndex(i);
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
      connections: this.accepted[i]!,
      listening: this.listeners[i] !== undefined,
    };
  }

  /** Every origin's state and counts. */
  origins(): OriginSnapshot[] {
    return Array.from({ length: this.count }, (_, i) => this.origin(i));
  }

  /** Requests received per origin, index-aligned (cheap: no objects per origin). */
  requestCounts(): number[] {
    return Array.from(this.requests);
  }

  /** Connections accepted per origin, index-aligned. */
  connectionCounts(): number[] {
    return Array.from(this.accepted);
  }

  /** Fleet-wide figures. */
  stats(): FleetStats {
    const byMode: Record<string, number> = {};
    let total = 0;
    let listening = 0;
    for (let i = 0; i < this.count; i++) {
      const m = this.behaviours[i]!.mode;
      byMode[m] = (byMode[m] ?? 0) + 1;
      total += this.requests[i]!;
      if (this.listeners[i] !== undefined) listening++;
    }
    return {
      count: this.count,
      listening,
      openConnections: this.budget.open,
      maxConnections: this.maxConnections,
      evictions: this.budget.evictions,
      rejections: this.budget.rejections,
      totalRequests: total,
      openFilesLimit: this.fdLimit,
      byMode,
    };
  }

  /** Stops every listener, destroys every connection (hanging ones included) and pending slow response. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.pendingTimers) clearTimeout(t);
    this.pendingTimers.clear();
    await this.queue.catch(() => undefined);
    const closing: Promise<void>[] = [];
    for (let i = 0; i < this.count; i++) {
      const srv = this.listeners[i];
      if (srv) closing.push(new Promise<void>((resolve) => srv.close(() => resolve())));
      this.listeners[i] = undefined;
      this.dropConnections(i);
    }
    this.server.closeAllConnections();
    await Promise.all(closing);
  }

  private checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new FleetInputError([`index: must be an integer from 0 to ${this.count - 1}, got ${String(i)}`]);
  }

  private mutate<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private openListener(i: number, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const srv = net.createServer({ noDelay: true }, (socket) => this.onConnection(i, socket));
      srv.once("error", (err: NodeJS.ErrnoException) => {
        reject(new Error(`origin ${i}: cannot listen on ${this.host}:${port}: ${err.code ?? err.message}`));
      });
      srv.listen({ port, host: this.host, backlog: 511 }, () => {
        srv.removeAllListeners("error");
        srv.on("error", () => undefined);
        const addr = srv.address() as net.AddressInfo;
        this.ports[i] = addr.port;
        this.listeners[i] = srv;
        resolve();
      });
    });
  }

  private async closeListener(i: number): Promise<void> {
    const srv = this.listeners[i];
    this.listeners[i] = undefined;
    this.dropConnections(i);
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
  }

  private dropConnections(i: number): void {
    const set = this.originConns[i];
    if (!set) return;
    for (const s of set) s.destroy();
    set.clear();
  }

  private onConnection(i: number, socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const decision = this.budget.admit(socket);
    if (decision === "reject") {
      socket.destroy();
      return;
    }
    if (decision !== undefined) decision.destroy();
    this.accepted[i]!++;
    this.conns.set(socket, { origin: i });
    let set = this.originConns[i];
    if (!set) {
      set = new Set();
      this.originConns[i] = set;
    }
    set.add(socket);
    socket.on("close", () => {
      this.budget.release(socket);
      this.originConns[i]?.delete(socket);
    });
    socket.on("error", () => undefined);
    if (this.behaviours[i]!.mode === "reset" || this.behaviours[i]!.mode === "closed") {
      this.requests[i]!++;
      socket.resetAndDestroy();
      return;
    }
    this.server.emit("connection", socket);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const socket = req.socket;
    const info = this.conns.get(socket) ?? this.conns.get((socket as unknown as { _parent?: net.Socket })._parent ?? socket);
    req.resume();
    if (!info) {
      res.writeHead(500).end();
      return;
    }
    const i = info.origin;
    const raw = this.rawSocket(socket);
    this.requests[i]!++;
    this.budget.markBusy(raw);
    const plan = planResponse(this.behaviours[i]!, this.firstIndex + i, performance.now(), this.sinceMs[i]!);
    if (plan.type === "hang") return; // the client's timeout ends it; close() cleans up
    if (plan.type === "reset") {
      raw.resetAndDestroy();
      return;
    }
    res.on("finish", () => this.budget.markIdle(raw));
    const send = (): void => {
      if (res.destroyed) return;
      const headers: http.OutgoingHttpHeaders = { "content-type": "application/json", "content-length": Buffer.byteLength(plan.body) };
      if (plan.location !== undefined) headers["location"] = plan.location;
      res.writeHead(plan.status, headers);
      res.end(plan.body);
    };
    if (plan.delayMs <= 0) {
      send();
      return;
    }
    const t = setTimeout(() => {
      this.pendingTimers.delete(t);
      send();
    }, plan.delayMs);
    this.pendingTimers.add(t);
    res.on("close", () => {
      clearTimeout(t);
      this.pendingTimers.delete(t);
    });
  }

  /** For HTTPS the request's socket is the TLS wrapper; the budget tracks the raw TCP socket. */
  private rawSocket(socket: net.Socket): net.Socket {
    const parent = (socket as unknown as { _parent?: net.Socket | null })._parent;
    return parent ?? socket;
  }
}
