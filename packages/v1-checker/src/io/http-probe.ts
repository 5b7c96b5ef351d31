import { performance } from "node:perf_hooks";
import type { TLSSocket } from "node:tls";
import { Agent, buildConnector, Client, interceptors, Pool, type Dispatcher } from "undici";
import { classifyErrorCode } from "../core/errors.ts";
import { ExpiryQueue } from "../core/expiry-queue.ts";
import { formatStatusRanges, statusAccepted } from "../core/target.ts";
import type { CheckError, CheckResult, TargetSpec } from "../core/types.ts";

/** Options of {@link HttpProber}. */
export interface HttpProberOptions {
  /**
   * How long an idle keep-alive connection is kept (undici also honours the
   * server's `Keep-Alive: timeout=` hint, minus 2 s). Default 4000 ms: longer
   * than common check intervals, so each target reuses one connection.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Connections per origin. Default 1: the scheduler never runs two checks
   * of one target at once, so one connection per origin is all it needs and
   * 10,000 origins cost 10,000 sockets, not more. Above 1, each origin gets
   * an undici `Pool` instead of a `Client`.
   */
  connectionsPerOrigin?: number;
  /** Sent as `User-Agent` unless a target sets its own. */
  userAgent?: string;
}

/** Where a check started with {@link HttpProber.start} reports its result; `ctx` is the value given to `start`. */
export interface ProbeSink<C> {
  probeDone(ctx: C, result: CheckResult): void;
}

const MS_PER_DAY = 86_400_000;

/** Aborts a response once enough of the body has been read. */
const ENOUGH = new Error("body prefix read");
/** Aborts a request that ran out of time. */
const TIMED_OUT = new Error("check timed out");
/** Aborts requests when the prober closes. */
const CLOSING = new Error("prober closing");

/** A connection (or pool) to one origin, shared by every target on it. */
interface OriginConnection {
  key: string;
  dispatcher: Dispatcher;
  /** Prepared specs using it; closed when the last is released. */
  refs: number;
}

/** Everything about a spec that does not change between its checks, computed once. */
interface Prepared {
  origin: string;
  https: boolean;
  /** The dispatch options, reused for every check (undici copies what it keeps). */
  opts: Dispatcher.DispatchOptions;
  dispatcher: Dispatcher;
  /** Set when the dispatcher is this spec's own share of an origin connection. */
  connection: OriginConnection | undefined;
  needBody: boolean;
  /** `bodyContains` as UTF-8 bytes: searched in the body's bytes, with no decoding. */
  needle: Buffer | undefined;
  bodyRegex: RegExp | undefined;
}

const EMPTY = Buffer.alloc(0);

/**
 * Runs HTTP(S) checks with undici keep-alive connections: one `Client` per
 * origin, reused across checks, so a check at steady state is one request on
 * an open socket rather than a TCP (and TLS) handshake.
 *
 * Built for 10,000 checks a second, and measured (see the README):
 * - the prober owns one undici `Client` per origin instead of going through
 *   an `Agent`, which looks the origin up per request and keeps a set of
 *   closures and listeners per origin to close idle clients;
 * - checks talk to the `dispatch` API with a small handler object in
 *   undici's own callback protocol (`onConnect`, `onHeaders`, `onData`,
 *   `onComplete`, `onError`): the newer controller-style API is a wrapper
 *   over it that allocates a controller and parses every response header
 *   into an object, where a check needs the status and, when following
 *   redirects, one header;
 * - timeouts are deadlines in one {@link ExpiryQueue} per timeout value with
 *   one timer for the earliest, not a timer object per check;
 * - no promise, closure or AbortSignal per check.
 *
 * Targets that follow redirects go through an `Agent` composed with undici's
 * redirect interceptor (a redirect may lead to another origin). HTTPS
 * connections record the certificate's expiry when they connect (a custom
 * connector), so checks of HTTPS targets report `certExpiryDays`.
 */
export class HttpProber {
  private readonly connections = new Map<string, OriginConnection>();
  private readonly redirectAgents = new Map<string, Dispatcher>();
  private readonly agents: Agent[] = [];
  private readonly connectors = new Map<string, buildConnector.connector>();
  /** origin ("https://host:port") -> certificate notAfter, epoch ms. */
  private readonly certExpiry = new Map<string, number>();
  private readonly prepared = new WeakMap<TargetSpec, Prepared>();
  /** One queue per timeout value: checks started in time order expire in that order. */
  private readonly timeouts = new Map<number, ExpiryQueue<HttpCheck<unknown>>>();
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Infinity;
  private running = 0;
  private readonly keepAliveTimeoutMs: number;
  private readonly connectionsPerOrigin: number;
  private readonly userAgent: string;
  private closed = false;

  /** See {@link HttpProberOptions}. */
  constructor(opts: HttpProberOptions = {}) {
    this.keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? 4000;
    this.connectionsPerOrigin = opts.connectionsPerOrigin ?? 1;
    this.userAgent = opts.userAgent ?? "heck-v1/0.1 (health check)";
  }

  /** Checks in flight. */
  get inFlight(): number {
    return this.running;
  }

  /** Origins with a connection (or pool) kept by this prober. */
  get origins(): number {
    return this.connections.size;
  }

  /**
   * Checks `spec` once. Never rejects: every failure becomes a result with a
   * named error, and the result arrives by `spec.timeoutMs` at the latest.
   */
  check(spec: TargetSpec): Promise<CheckResult> {
    return new Promise((resolve) => this.run(spec, resolve));
  }

  /** The same as {@link check} with a callback instead of a promise. */
  run(spec: TargetSpec, done: (result: CheckResult) => void): void {
    this.start(spec, done, CALLBACK_SINK);
  }

  /**
   * Starts a check of `spec`; `sink.probeDone(ctx, result)` gets its result
   * (once, by `spec.timeoutMs` at the latest). The engine's path: with a
   * long-lived sink and a `ctx` it already has, a check allocates its handler
   * and its result, and nothing else of ours.
   */
  start<C>(spec: TargetSpec, ctx: C, sink: ProbeSink<C>): void {
    if (this.closed) {
      sink.probeDone(ctx, { ok: false, latencyMs: 0, error: { kind: "network", message: "prober closed" } });
      return;
    }
    let prep: Prepared;
    try {
      prep = this.prepare(spec);
    } catch (err) {
      sink.probeDone(ctx, { ok: false, latencyMs: 0, error: { kind: "network", message: (err as Error).message } });
      return;
    }
    const check = new HttpCheck(this, spec, prep, ctx, sink);
    this.running++;
    check.ticket = this.queueFor(spec.timeoutMs).push(check as HttpCheck<unknown>, check.startedMs + spec.timeoutMs);
    if (check.startedMs + spec.timeoutMs < this.timerAtMs) this.arm();
    check.dispatch();
  }

  /**
   * Forgets `spec` (a removed or replaced target): its share of the origin's
   * connection is released, and the connection closes (after any check in
   * flight) when no other target uses it.
   */
  release(spec: TargetSpec): void {
    const prep = this.prepared.get(spec);
    if (prep === undefined) return;
    this.prepared.delete(spec);
    const c = prep.connection;
    if (c !== undefined && --c.refs === 0) {
      this.connections.delete(c.key);
      c.dispatcher.close().catch(() => undefined);
    }
  }

  /** Ends every check in flight (as "aborted") and closes every connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = Infinity;
    for (const q of this.timeouts.values()) q.popExpired(Infinity, (c) => c.abort(CLOSING));
    const all = [...this.connections.values()].map((c) => c.dispatcher.destroy().catch(() => undefined));
    all.push(...this.agents.map((a) => a.destroy().catch(() => undefined)));
    await Promise.all(all);
    this.connections.clear();
    this.redirectAgents.clear();
    this.agents.length = 0;
  }

  /** @internal A check ended (any way): stop waiting for its timeout. */
  ended(check: HttpCheck<unknown>): void {
    this.running--;
    this.timeouts.get(check.spec.timeoutMs)?.cancel(check.ticket, check);
  }

  /** @internal Days until the certificate of `spec`'s origin expires, if known. */
  certDays(prep: Prepared): number | undefined {
    if (!prep.https) return undefined;
    const notAfter = this.certExpiry.get(prep.origin);
    // Date.now: certificate dates are wall-clock dates.
    return notAfter === undefined ? undefined : Math.floor((notAfter - Date.now()) / MS_PER_DAY);
  }

  private queueFor(timeoutMs: number): ExpiryQueue<HttpCheck<unknown>> {
    let q = this.timeouts.get(timeoutMs);
    if (q === undefined) {
      q = new ExpiryQueue();
      this.timeouts.set(timeoutMs, q);
    }
    return q;
  }

  /** Times out every check past its deadline, then re-arms for the earliest one left. */
  /**
   * The timer's callback: decides nothing yet. Node runs expired timers
   * before it reads the sockets, so after a stall of this process (a busy
   * CPU, a long garbage collection) a timer would abort checks whose answers
   * have been waiting, unread, in the kernel since before their deadline:
   * the checker's own delay reported as the origin's timeout. `setImmediate`
   * runs after the next socket read, so every answer that has arrived is
   * taken first, and only checks still without one time out.
   */
  private readonly onTimer = (): void => {
    setImmediate(this.onAfterRead);
  };

  private readonly onAfterRead = (): void => this.expire();

  private expire(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = Infinity;
    const now = performance.now();
    for (const q of this.timeouts.values()) q.popExpired(now, (c) => c.abort(TIMED_OUT));
    this.arm();
  }

  /** Keeps one timer, set to the earliest deadline of any check in flight. */
  private arm(): void {
    let at = Infinity;
    for (const q of this.timeouts.values()) {
      const d = q.peekDeadline();
      if (d < at) at = d;
    }
    if (at === this.timerAtMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = at;
    if (at === Infinity) return;
    this.timer = setTimeout(this.onTimer, Math.max(0, Math.ceil(at - performance.now())));
    // A check in flight keeps the process alive through its socket; the timer alone should not.
    this.timer.unref();
  }

  private prepare(spec: TargetSpec): Prepared {
    let p = this.prepared.get(spec);
    if (p !== undefined) return p;
    const u = new URL(spec.url);
    const https = u.protocol === "https:";
    const headers: string[] = [];
    let ownAgent = false;
    for (const [k, v] of Object.entries(spec.headers)) {
      if (k.toLowerCase() === "user-agent") ownAgent = true;
      headers.push(k, v);
    }
    if (!ownAgent) headers.unshift("user-agent", this.userAgent);
    const tlsKey = https ? `${spec.tlsVerify ? "v" : "n"}|${spec.tlsCa ?? ""}` : "h";
    let dispatcher: Dispatcher;
    let connection: OriginConnection | undefined;
    if (spec.followRedirects > 0) {
      dispatcher = this.redirectAgent(tlsKey, https, spec);
    } else {
      const key = `${tlsKey}|${u.origin}`;
      connection = this.connections.get(key);
      if (connection === undefined) {
        const options = {
          pipelining: 1,
          keepAliveTimeout: this.keepAliveTimeoutMs,
          // Each check's own deadline bounds it; undici's 300 s defaults would only hold sockets longer.
          headersTimeout: 0,
          bodyTimeout: 0,
          connect: this.connector(tlsKey, https, spec),
        };
        const d = this.connectionsPerOrigin > 1 ? new Pool(u.origin, { ...options, connections: this.connectionsPerOrigin }) : new Client(u.origin, options);
        connection = { key, dispatcher: d, refs: 0 };
        this.connections.set(key, connection);
      }
      connection.refs++;
      dispatcher = connection.dispatcher;
    }
    p = {
      origin: u.origin,
      https,
      opts: { origin: u.origin, path: `${u.pathname}${u.search}`, method: spec.method, headers },
      dispatcher,
      connection,
      needBody: spec.method !== "HEAD" && (spec.bodyContains !== undefined || spec.bodyMatches !== undefined),
      needle: spec.bodyContains === undefined ? undefined : Buffer.from(spec.bodyContains, "utf8"),
      bodyRegex: spec.bodyMatches === undefined ? undefined : new RegExp(spec.bodyMatches),
    };
    this.prepared.set(spec, p);
    return p;
  }

  /** One connector per TLS setting; HTTPS connections record the certificate's expiry. */
  private connector(tlsKey: string, https: boolean, spec: TargetSpec): buildConnector.connector {
    let c = this.connectors.get(tlsKey);
    if (c !== undefined) return c;
    const base = buildConnector(https ? { rejectUnauthorized: spec.tlsVerify, ...(spec.tlsCa ? { ca: spec.tlsCa } : {}) } : {});
    const record = this.certExpiry;
    c = (options, callback) => {
      base(options, (err, socket) => {
        if (err === null && socket !== null && options.protocol === "https:") {
          const cert = (socket as TLSSocket).getPeerCertificate?.();
          if (cert?.valid_to) record.set(`https://${options.hostname}${options.port ? `:${options.port}` : ""}`, Date.parse(cert.valid_to));
        }
        if (err !== null) callback(err, null);
        else callback(null, socket!);
      });
    };
    this.connectors.set(tlsKey, c);
    return c;
  }

  /** Redirect-following targets share an Agent per TLS setting and redirect limit. */
  private redirectAgent(tlsKey: string, https: boolean, spec: TargetSpec): Dispatcher {
    const key = `${tlsKey}|${spec.followRedirects}`;
    let d = this.redirectAgents.get(key);
    if (d !== undefined) return d;
    const agent = new Agent({
      connections: this.connectionsPerOrigin,
      pipelining: 1,
      keepAliveTimeout: this.keepAliveTimeoutMs,
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: this.connector(tlsKey, https, spec),
    });
    this.agents.push(agent);
    d = agent.compose(interceptors.redirect({ maxRedirections: spec.followRedirects }));
    this.redirectAgents.set(key, d);
    return d;
  }
}

/** The sink of {@link HttpProber.run}: the context is the callback itself. */
const CALLBACK_SINK: ProbeSink<(r: CheckResult) => void> = { probeDone: (done, r) => done(r) };

/**
 * One check: an undici dispatch handler in undici's callback protocol. At
 * most one retry, on a connection reset before any answer.
 */
class HttpCheck<C> {
  readonly startedMs = performance.now();
  /** Ticket in the prober's expiry queue. */
  ticket = 0;
  private abortFn: ((err?: Error) => void) | null = null;
  private abortReason: Error | null = null;
  private done = false;
  private retried = false;
  private status = 0;
  private location: string | undefined = undefined;
  /** The body prefix: usually one chunk, an array only when it came in several. */
  private first: Buffer | null = null;
  private chunks: Buffer[] | null = null;
  private size = 0;

  constructor(
    private readonly prober: HttpProber,
    readonly spec: TargetSpec,
    private readonly prep: Prepared,
    private readonly ctx: C,
    private readonly sink: ProbeSink<C>,
  ) {}

  dispatch(): void {
    try {
      this.prep.dispatcher.dispatch(this.prep.opts, this as unknown as Dispatcher.DispatchHandler);
    } catch (err) {
      this.finish(this.fail({ kind: "network", message: (err as Error).message }));
    }
  }

  /** Ends the check now: a timeout, or the prober closing. */
  abort(reason: Error): void {
    if (this.done) return;
    this.abortReason = reason;
    // Finish first: aborting makes undici call onError at once, and this
    // check's verdict is the timeout, not the abort it causes.
    if (reason === TIMED_OUT) this.finish(this.fail({ kind: "timeout", message: `no complete answer within ${this.spec.timeoutMs} ms` }));
    else this.finish(this.fail({ kind: "network", message: "check aborted: the checker is stopping" }));
    // Aborting destroys the connection (HTTP/1.1 cannot cancel a request);
    // the next check reconnects. Not yet started: cancel it in onConnect.
    this.abortFn?.(reason);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.abortReason !== null) abort(this.abortReason);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[] | null): boolean {
    this.status = statusCode;
    // Only a redirect followed to its limit needs a header: "still redirected".
    if (this.spec.followRedirects > 0 && statusCode >= 300 && statusCode < 400 && rawHeaders !== null) {
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        const name = rawHeaders[i]!;
        if (name.length === 8 && name.toString().toLowerCase() === "location") this.location = rawHeaders[i + 1]!.toString();
      }
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    const max = this.spec.maxBodyBytes;
    if (this.prep.needBody && this.size < max) {
      const part = this.size + chunk.length > max ? chunk.subarray(0, max - this.size) : chunk;
      if (this.first === null) this.first = part;
      else (this.chunks ??= [this.first]).push(part);
    }
    this.size += chunk.length;
    // Past the bound, stop reading: the connection closes (the next check
    // reconnects), the price of a body larger than the bound.
    if (this.size > max) this.abortFn?.(ENOUGH);
    return true;
  }

  onComplete(): void {
    this.finish(this.judge());
  }

  onError(err: Error): void {
    if (this.done) return;
    if (err === ENOUGH) return this.finish(this.judge());
    const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const code = e.code ?? e.cause?.code;
    const message = e.cause?.message && e.cause.message !== e.message ? `${e.message}: ${e.cause.message}` : e.message;
    const kind = classifyErrorCode(code, message);
    // A keep-alive connection the server closed while idle can fail the next
    // request before a byte comes back; as Go's http.Transport does for
    // idempotent requests on reused connections, retry once on a fresh
    // connection. A real reset fails the retry too.
    if (kind === "reset" && !this.retried && this.status === 0) {
      this.retried = true;
      this.abortFn = null;
      // Not from inside undici's error path: it expects its queue to stay empty there.
      queueMicrotask(() => {
        if (!this.done) this.dispatch();
      });
      return;
    }
    this.finish(this.fail({ kind, message: code ? `${code}: ${message}` : message }));
  }

  private judge(): CheckResult {
    const spec = this.spec;
    const status = this.status;
    if (spec.followRedirects > 0 && status >= 300 && status < 400 && this.location !== undefined) {
      return this.fail({ kind: "redirect", message: `still redirected (HTTP ${status}) after ${spec.followRedirects} redirects` });
    }
    if (!statusAccepted(status, spec.expectedStatus)) {
      return this.fail({ kind: "status", message: `HTTP ${status}, expected ${formatStatusRanges(spec.expectedStatus)}` });
    }
    if (this.prep.needBody) {
      const body = this.chunks !== null ? Buffer.concat(this.chunks) : (this.first ?? EMPTY);
      // UTF-8 bytes contain the needle's bytes exactly when the text contains the needle.
      if (this.prep.needle !== undefined && body.indexOf(this.prep.needle) === -1) {
        return this.fail({ kind: "body", message: `body (first ${spec.maxBodyBytes} bytes) does not contain ${JSON.stringify(spec.bodyContains)}` });
      }
      if (this.prep.bodyRegex !== undefined && !this.prep.bodyRegex.test(body.toString("utf8"))) {
        return this.fail({ kind: "body", message: `body (first ${spec.maxBodyBytes} bytes) does not match /${spec.bodyMatches}/` });
      }
    }
    const r: CheckResult = { ok: true, latencyMs: performance.now() - this.startedMs, httpStatus: status };
    if (this.prep.https) {
      const days = this.prober.certDays(this.prep);
      if (days !== undefined) r.certExpiryDays = days;
    }
    return r;
  }

  private fail(error: CheckError): CheckResult {
    const r: CheckResult = { ok: false, latencyMs: performance.now() - this.startedMs, error };
    if (this.status !== 0) r.httpStatus = this.status;
    const days = this.prober.certDays(this.prep);
    if (days !== undefined) r.certExpiryDays = days;
    return r;
  }

  private finish(r: CheckResult): void {
    if (this.done) return;
    this.done = true;
    this.first = null;
    this.chunks = null;
    this.prober.ended(this as HttpCheck<unknown>);
    this.sink.probeDone(this.ctx, r);
  }
}
