import { performance } from "node:perf_hooks";
import type { TLSSocket } from "node:tls";
import { Agent, buildConnector, interceptors, request, type Dispatcher } from "undici";
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
}

const MS_PER_DAY = 86_400_000;

/**
 * Runs HTTP(S) checks with undici keep-alive pools: one connection per
 * origin, reused across checks, so a check at steady state is one request on
 * an open socket rather than a TCP (and TLS) handshake.
 *
 * One undici Agent per TLS setting (verify on/off, extra CA) and redirect
 * limit, created on first use. HTTPS connections record the certificate's
 * expiry when they connect (a custom connector), so every check of an
 * HTTPS target reports `certExpiryDays`.
 */
export class HttpProber {
  private readonly dispatchers = new Map<string, Dispatcher>();
  private readonly agents: Agent[] = [];
  /** origin ("https://host:port") -> certificate notAfter, epoch ms. */
  private readonly certExpiry = new Map<string, number>();
  private readonly keepAliveTimeoutMs: number;
  private readonly connections: number;
  private closed = false;

  /** See {@link HttpProberOptions}. */
  constructor(opts: HttpProberOptions = {}) {
    this.keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? 4000;
    this.connections = opts.connectionsPerOrigin ?? 1;
  }

  /**
   * Checks `spec` once. Never throws: every failure becomes a result with a
   * named error. `signal` aborts early (engine shutdown).
   */
  async check(spec: TargetSpec, signal?: AbortSignal): Promise<CheckResult> {
    const started = performance.now();
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, spec.timeoutMs);
    const onAbort = (): void => controller.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      // A keep-alive connection the server closed while idle can fail the
      // next request before a byte comes back; as Go's http.Transport does
      // for idempotent requests on reused connections, retry once on a
      // fresh connection. A real reset fails the retry too.
      let result = await this.attempt(spec, controller.signal, started);
      if (!result.ok && result.error?.kind === "reset" && !timedOut && !controller.signal.aborted) {
        result = await this.attempt(spec, controller.signal, started);
      }
      if (timedOut) return this.timeout(spec, started);
      return result;
    } catch {
      return timedOut ? this.timeout(spec, started) : { ok: false, latencyMs: performance.now() - started, error: { kind: "network", message: "check aborted" } };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Closes every pool and its connections. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.agents.map((a) => a.destroy().catch(() => undefined)));
    this.dispatchers.clear();
    this.agents.length = 0;
  }

  private timeout(spec: TargetSpec, started: number): CheckResult {
    return { ok: false, latencyMs: performance.now() - started, error: { kind: "timeout", message: `no complete answer within ${spec.timeoutMs} ms` } };
  }

  private async attempt(spec: TargetSpec, signal: AbortSignal, started: number): Promise<CheckResult> {
    const fail = (error: CheckError, httpStatus?: number): CheckResult => {
      const r: CheckResult = { ok: false, latencyMs: performance.now() - started, error };
      if (httpStatus !== undefined) r.httpStatus = httpStatus;
      const days = this.certDays(spec.url);
      if (days !== undefined) r.certExpiryDays = days;
      return r;
    };
    let res: Dispatcher.ResponseData;
    try {
      res = await request(spec.url, {
        method: spec.method,
        headers: spec.headers,
        dispatcher: this.dispatcher(spec),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw err;
      const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
      // undici wraps some socket errors; the cause carries the system code.
      const code = e.code ?? e.cause?.code;
      const message = e.cause?.message && e.cause.message !== e.message ? `${e.message}: ${e.cause.message}` : e.message;
      return fail({ kind: classifyErrorCode(code, message), message: code ? `${code}: ${message}` : message });
    }
    const status = res.statusCode;
    let body = "";
    const needBody = spec.bodyContains !== undefined || spec.bodyMatches !== undefined;
    try {
      if (needBody && spec.method !== "HEAD") body = await readPrefix(res.body, spec.maxBodyBytes);
      else await res.body.dump({ limit: spec.maxBodyBytes });
    } catch (err) {
      if (signal.aborted) throw err;
      const e = err as NodeJS.ErrnoException;
      return fail({ kind: classifyErrorCode(e.code, e.message), message: `while reading the body: ${e.message}` }, status);
    }
    if (spec.followRedirects > 0 && status >= 300 && status < 400 && res.headers["location"] !== undefined) {
      return fail({ kind: "redirect", message: `still redirected (HTTP ${status}) after ${spec.followRedirects} redirects` }, status);
    }
    if (!statusAccepted(status, spec.expectedStatus)) {
      return fail({ kind: "status", message: `HTTP ${status}, expected ${formatStatusRanges(spec.expectedStatus)}` }, status);
    }
    if (spec.bodyContains !== undefined && !body.includes(spec.bodyContains)) {
      return fail({ kind: "body", message: `body (first ${spec.maxBodyBytes} bytes) does not contain ${JSON.stringify(spec.bodyContains)}` }, status);
    }
    if (spec.bodyMatches !== undefined && !new RegExp(spec.bodyMatches).test(body)) {
      return fail({ kind: "body", message: `body (first ${spec.maxBodyBytes} bytes) does not match /${spec.bodyMatches}/` }, status);
    }
    const ok: CheckResult = { ok: true, latencyMs: performance.now() - started, httpStatus: status };
    const days = this.certDays(spec.url);
    if (days !== undefined) ok.certExpiryDays = days;
    return ok;
  }

  private certDays(url: string): number | undefined {
    if (!url.startsWith("https:")) return undefined;
    const notAfter = this.certExpiry.get(new URL(url).origin);
    // Date.now here: certificate dates are wall-clock dates.
    return notAfter === undefined ? undefined : Math.floor((notAfter - Date.now()) / MS_PER_DAY);
  }

  private dispatcher(spec: TargetSpec): Dispatcher {
    const https = spec.url.startsWith("https:");
    const key = `${https ? (spec.tlsVerify ? "v" : "n") : "h"}|${spec.followRedirects}|${https ? (spec.tlsCa ?? "") : ""}`;
    let d = this.dispatchers.get(key);
    if (d) return d;
    if (this.closed) throw new Error("prober closed");
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
      // The check's own timer bounds the whole check; undici's defaults (300 s) would only leak sockets on top.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect,
    });
    this.agents.push(agent);
    d = spec.followRedirects > 0 ? agent.compose(interceptors.redirect({ maxRedirections: spec.followRedirects })) : agent;
    this.dispatchers.set(key, d);
    return d;
  }
}

/** Reads at most `limit` bytes of a body as UTF-8 text and discards the rest. */
async function readPrefix(body: Dispatcher.ResponseData["body"], limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (size + buf.length >= limit) {
      chunks.push(buf.subarray(0, limit - size));
      size = limit;
      // Stop reading: destroying the body closes this connection, which is
      // the price of a body larger than the bound (the next check reconnects).
      body.destroy();
      break;
    }
    chunks.push(buf);
    size += buf.length;
  }
  return Buffer.concat(chunks, size).toString("utf8");
}
