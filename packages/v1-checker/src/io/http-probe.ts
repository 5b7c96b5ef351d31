import type { IncomingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";
import type { TLSSocket } from "node:tls";
import { Agent, buildConnector, interceptors, type Dispatcher } from "undici";
import { classifyErrorCode } from "../core/errors.ts";
import { formatStatusRanges, statusAccepted } from "../core/target.ts";
import type { CheckError, CheckResult, TargetSpec } from "../core/types.ts";

/** Options of {@link HttpProber}. */
export interface HttpProberOptions {
  /**
   * How long an idle keep-alive connection is kept (undici also honours the
   * server's `Keep-Alive: timeout=` hint, minus 1 s). Default 4000 ms: longer
   * than common check intervals, so each target reuses one connection.
   */
  keepAliveTimeoutMs?: number;
  /**
   * Connections per origin. Default 1: the scheduler never runs two checks
   * of one target at once, so one connection per origin is all it needs and
   * 10,000 origins cost 10,000 sockets, not more.
   */
  connectionsPerOrigin?: number;
  /** Sent as `User-Agent` unless a target sets its own. */
  userAgent?: string;
}

const MS_PER_DAY = 86_400_000;

/** Aborts a response once enough of the body has been read. */
const ENOUGH = new Error("body prefix read");
/** Aborts a request that ran out of time. */
const TIMED_OUT = new Error("check timed out");
/** Aborts requests when the prober closes. */
const CLOSING = new Error("prober closing");

interface Prepared {
  origin: string;
  path: string;
  headers: Record<string, string>;
  needBody: boolean;
  bodyRegex: RegExp | undefined;
}

/**
 * Runs HTTP(S) checks with undici keep-alive connections: one per origin,
 * reused across checks, so a check at steady state is one request on an
 * open socket rather than a TCP (and TLS) handshake.
 *
 * It talks to undici's `dispatch` API with a small handler instead of
 * `request()`: no response stream, no promise chain and no AbortSignal per
 * check, which matters at 10,000 checks a second. One undici Agent per TLS
 * setting (verify on/off, extra CA) and redirect limit, created on first use.
 * HTTPS connections record the certificate's expiry when they connect (a
 * custom connector), so checks of HTTPS targets report `certExpiryDays`.
 */
export class HttpProber {
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly agents: Agent[] = [];
  /** origin ("https://host:port") -> certificate notAfter, epoch ms. */
  private readonly certExpiry = new Map<string, number>();
  private readonly prepared = new WeakMap<TargetSpec, Prepared>();
  private readonly active = new Set<HttpCheck>();
  private readonly keepAliveTimeoutMs: number;
  private readonly connections: number;
  private readonly userAgent: string;
  private closed = false;

  /** See {@link HttpProberOptions}. */
  constructor(opts: HttpProberOptions = {}) {
    this.keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? 4000;
    this.connections = opts.connectionsPerOrigin ?? 1;
    this.userAgent = opts.userAgent ?? "heck-v1/0.1 (health check)";
  }

  /** Checks in flight. */
  get inFlight(): number {
    return this.active.size;
  }

  /**
   * Checks `spec` once. Never rejects: every failure becomes a result with a
   * named error, and the result arrives by `spec.timeoutMs` at the latest.
   */
  check(spec: TargetSpec): Promise<CheckResult> {
    return new Promise((resolve) => this.run(spec, resolve));
  }

  /**
   * The same as {@link check} with a callback instead of a promise: the
   * engine's path, which saves a few allocations per check at 10,000 a second.
   */
  run(spec: TargetSpec, done: (result: CheckResult) => void): void {
    if (this.closed) {
      done({ ok: false, latencyMs: 0, error: { kind: "network", message: "prober closed" } });
      return;
    }
    const check = new HttpCheck(this, spec, this.prepare(spec), (r) => {
      this.active.delete(check);
      done(r);
    });
    this.active.add(check);
    check.start();
  }

  /** Ends every check in flight (as "aborted") and closes every connection. */
  async close(): Promise<void> {
    this.closed = true;
    for (const run of [...this.active]) run.abort(CLOSING);
    await Promise.all(this.agents.map((a) => a.destroy().catch(() => undefined)));
    this.dispatchers.clear();
    this.agents.length = 0;
  }

  /** @internal Days until the certificate of `spec`'s origin expires, if known. */
  certDays(spec: TargetSpec, origin: string): number | undefined {
    if (!spec.url.startsWith("https:")) return undefined;
    const notAfter = this.certExpiry.get(origin);
    // Date.now: certificate dates are wall-clock dates.
    return notAfter === undefined ? undefined : Math.floor((notAfter - Date.now()) / MS_PER_DAY);
  }

  /** @internal The dispatcher for `spec`'s TLS and redirect settings. */
  dispatcher(spec: TargetSpec): Dispatcher {
    const https = spec.url.startsWith("https:");
    const key = `${https ? (spec.tlsVerify ? "v" : "n") : "h"}|${spec.followRedirects}|${https ? (spec.tlsCa ?? "") : ""}`;
    let d = this.dispatchers.get(key);
    if (d) return d;
    const tlsOptions = https ? { rejectUnauthorized: spec.tlsVerify, ...(spec.tlsCa ? { ca: spec.tlsCa } : {}) } : {};
    const base = buildConnector({ ...tlsOptions });
    const record = this.certExpiry;
    const connect: buildConnector.connector = (options, callback) => {
      base(options, (err, socket) => {
        if (err === null && socket !== null && options.protocol === "https:") {
          const cert = (socket as TLSSocket).getPeerCertificate?.();
          if (cert?.valid_to) record.set(`https://${options.hostname}${options.port ? `:${options.port}` : ""}`, Date.parse(cert.valid_to));
        }
        if (err !== null) callback(err, null);
        else callback(null, socket!);
      });
    };
    const agent = new Agent({
      connections: this.connections,
      pipelining: 1,
      keepAliveTimeout: this.keepAliveTimeoutMs,
      // Each check's own timer bounds it; undici's 300 s defaults would only hold sockets longer.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect,
    });
    this.agents.push(agent);
    d = spec.followRedirects > 0 ? agent.compose(interceptors.redirect({ maxRedirections: spec.followRedirects })) : agent;
    this.dispatchers.set(key, d);
    return d;
  }

  private prepare(spec: TargetSpec): Prepared {
    let p = this.prepared.get(spec);
    if (!p) {
      const u = new URL(spec.url);
      p = {
        origin: u.origin,
        path: `${u.pathname}${u.search}`,
        headers: { "user-agent": this.userAgent, ...spec.headers },
        needBody: spec.method !== "HEAD" && (spec.bodyContains !== undefined || spec.bodyMatches !== undefined),
        bodyRegex: spec.bodyMatches === undefined ? undefined : new RegExp(spec.bodyMatches),
      };
      this.prepared.set(spec, p);
    }
    return p;
  }
}

/** One check: an undici dispatch handler plus its timer. At most one retry, on a connection reset. */
class HttpCheck implements Dispatcher.DispatchHandler {
  private readonly started = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  private abortReason: Error | undefined;
  private done = false;
  private retried = false;
  private status = 0;
  private location: string | undefined;
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly prober: HttpProber,
    private readonly spec: TargetSpec,
    private readonly prep: Prepared,
    private readonly resolve: (r: CheckResult) => void,
  ) {}

  start(): void {
    this.timer = setTimeout(() => this.abort(TIMED_OUT), this.spec.timeoutMs);
    this.dispatch();
  }

  /** Ends the check now: a timeout, or the prober closing. */
  abort(reason: Error): void {
    if (this.done) return;
    this.abortReason = reason;
    // Finish first: aborting makes undici call onResponseError at once, and
    // this check's verdict is the timeout, not the abort it causes.
    if (reason === TIMED_OUT) this.finish(this.fail({ kind: "timeout", message: `no complete answer within ${this.spec.timeoutMs} ms` }));
    else this.finish(this.fail({ kind: "network", message: "check aborted: the checker is stopping" }));
    this.controller?.abort(reason);
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    // Aborted while waiting for a connection: cancel now that undici lets us.
    if (this.abortReason) controller.abort(this.abortReason);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    this.status = statusCode;
    const loc = headers["location"];
    this.location = Array.isArray(loc) ? loc[0] : loc;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const max = this.spec.maxBodyBytes;
    if (this.prep.needBody && this.size < max) this.chunks.push(this.size + chunk.length > max ? chunk.subarray(0, max - this.size) : chunk);
    this.size += chunk.length;
    // Past the bound, stop reading: the connection closes (the next check
    // reconnects), the price of a body larger than the bound.
    if (this.size > max) controller.abort(ENOUGH);
  }

  onResponseEnd(): void {
    this.finish(this.judge());
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
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
      this.controller = undefined;
      // Not from inside undici's error path: it expects its queue to stay empty there.
      queueMicrotask(() => {
        if (!this.done) this.dispatch();
      });
      return;
    }
    this.finish(this.fail({ kind, message: code ? `${code}: ${message}` : message }));
  }

  private dispatch(): void {
    try {
      this.prober.dispatcher(this.spec).dispatch({ origin: this.prep.origin, path: this.prep.path, method: this.spec.method, headers: this.prep.headers }, this);
    } catch (err) {
      this.finish(this.fail({ kind: "network", message: (err as Error).message }));
    }
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
      const body = Buffer.concat(this.chunks).toString("utf8");
      if (spec.bodyContains !== undefined && !body.includes(spec.bodyContains)) {
        return this.fail({ kind: "body", message: `body (first ${spec.maxBodyBytes} bytes) does not contain ${JSON.stringify(spec.bodyContains)}` });
      }
      if (this.prep.bodyRegex !== undefined && !this.prep.bodyRegex.test(body)) {
        return this.fail({ kind: "body", message: `body (first ${spec.maxBodyBytes} bytes) does not match /${spec.bodyMatches}/` });
      }
    }
    const r: CheckResult = { ok: true, latencyMs: performance.now() - this.started, httpStatus: status };
    const days = this.prober.certDays(spec, this.prep.origin);
    if (days !== undefined) r.certExpiryDays = days;
    return r;
  }

  private fail(error: CheckError): CheckResult {
    const r: CheckResult = { ok: false, latencyMs: performance.now() - this.started, error };
    if (this.status !== 0) r.httpStatus = this.status;
    const days = this.prober.certDays(this.spec, this.prep.origin);
    if (days !== undefined) r.certExpiryDays = days;
    return r;
  }

  private finish(r: CheckResult): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.chunks = [];
    this.resolve(r);
  }
}
