import http from "node:http";
import type { AddressInfo } from "node:net";
import { readJson as readJsonBody, sendJson as json, type JsonBodyResult } from "@heck/sim/http";
import type { TargetSnapshot, TransitionEvent } from "../core/checker.ts";
import { formatStatusRanges } from "../core/target.ts";
import { HEALTH_STATUSES, type CheckError, type HealthStatus, type Transition } from "../core/types.ts";
import { CheckEngine, TargetExistsError, TargetInputError } from "./engine.ts";
import { createMetrics, type EngineMetrics } from "./metrics.ts";

/** Largest request body the API reads. */
const MAX_BODY_BYTES = 256 * 1024;
/** SSE comment sent this often so proxies and clients keep the stream open. */
const SSE_HEARTBEAT_MS = 15_000;

/** A transition as the API and the event stream show it. */
export interface TransitionView {
  id: string;
  from: HealthStatus;
  to: HealthStatus;
  at: string;
  reason: string;
  errorKind: string | null;
}

/** A target as `GET /v1/targets` shows it (the interface contract: at least id, url, status, lastError). */
export interface TargetView {
  id: string;
  url: string;
  status: HealthStatus;
  since: string;
  lastCheck: string | null;
  lastResult: "ok" | "error" | null;
  latencyMs: number | null;
  lastError: CheckError | null;
  httpStatus: number | null;
  certExpiryDays: number | null;
  consecutiveSuccesses: number;
  consecutiveFailures: number;
  checks: number;
  failures: number;
  nextCheck: string | null;
  inFlight: boolean;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  method: string;
  expectedStatus: string;
  history?: TransitionView[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Formats a transition for JSON. */
export function transitionView(t: Transition): TransitionView {
  return { id: t.id, from: t.from, to: t.to, at: iso(t.atMs), reason: t.reason, errorKind: t.errorKind ?? null };
}

/** Formats a snapshot for JSON: ISO times, latency rounded to 0.1 ms. */
export function targetView(s: TargetSnapshot): TargetView {
  const v: TargetView = {
    id: s.id,
    url: s.url,
    status: s.status,
    since: iso(s.sinceMs),
    lastCheck: s.lastCheckMs === null ? null : iso(s.lastCheckMs),
    lastResult: s.lastResult,
    latencyMs: s.latencyMs === null ? null : Math.round(s.latencyMs * 10) / 10,
    lastError: s.lastError,
    httpStatus: s.httpStatus,
    certExpiryDays: s.certExpiryDays,
    consecutiveSuccesses: s.consecutiveSuccesses,
    consecutiveFailures: s.consecutiveFailures,
    checks: s.checks,
    failures: s.failures,
    nextCheck: s.nextCheckMs === null ? null : iso(s.nextCheckMs),
    inFlight: s.inFlight,
    intervalMs: s.spec.intervalMs,
    timeoutMs: s.spec.timeoutMs,
    rise: s.spec.rise,
    fall: s.spec.fall,
    method: s.spec.kind === "tcp" ? "TCP" : s.spec.method,
    expectedStatus: s.spec.kind === "tcp" ? "" : formatStatusRanges(s.spec.expectedStatus),
  };
  if (s.history) v.history = s.history.map(transitionView);
  return v;
}

/**
 * The checker's HTTP API:
 *
 * - `GET /v1/targets[?status=healthy|unhealthy|unknown]`: JSON array of {@link TargetView}
 * - `GET /v1/targets/:id`: one target with its transition history (404 if unknown)
 * - `POST /v1/targets`: add a target (body as a config target; the config's defaults apply); 201, 400 naming fields, 409 on a taken id
 * - `PUT /v1/targets/:id`: replace a target's settings (200, 400, 404)
 * - `DELETE /v1/targets/:id`: remove it (200 with its last view, 404)
 * - `GET /v1/events`: server-sent events, `event: transition` with a {@link TransitionView}
 * - `GET /healthz`: the checker's own liveness and counts
 * - `GET /metrics`: Prometheus text (see createMetrics)
 */
export class ApiServer {
  private readonly sse = new Set<http.ServerResponse>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly onTransition = (e: TransitionEvent): void => {
    const line = `event: transition\ndata: ${JSON.stringify({ ...transitionView(e.transition), url: e.url })}\n\n`;
    for (const res of this.sse) res.write(line);
  };

  private constructor(
    private readonly server: http.Server,
    private readonly engine: CheckEngine,
    private readonly metrics: EngineMetrics,
    /** Base URL, e.g. `http://127.0.0.1:13100`. */
    readonly url: string,
  ) {}

  /** Serves `engine` on `host:port` (0 picks a free port). Rejects with a clear message if the address is taken. */
  static async start(engine: CheckEngine, host: string, port: number): Promise<ApiServer> {
    const server = http.createServer();
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`--listen: cannot listen on ${host}:${port}: ${err.code ?? err.message}`)));
      server.listen({ host, port }, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    const api = new ApiServer(server, engine, createMetrics(engine), `http://${shown}:${addr.port}`);
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      api.handle(req, res).catch((err: unknown) => json(res, 500, { error: `internal error: ${(err as Error).message}` }));
    });
    engine.on("transition", api.onTransition);
    api.heartbeat = setInterval(() => {
      for (const res of api.sse) res.write(": ping\n\n");
    }, SSE_HEARTBEAT_MS);
    api.heartbeat.unref();
    return api;
  }

  /** The Prometheus registry, e.g. to add metrics of one's own. */
  get registry(): EngineMetrics["registry"] {
    return this.metrics.registry;
  }

  /** Ends event streams and stops listening (the engine keeps running). */
  async close(): Promise<void> {
    this.engine.off("transition", this.onTransition);
    this.metrics.detach();
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const res of this.sse) res.end();
    this.sse.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://api");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const method = req.method ?? "GET";
    const notAllowed = (allowed: string): void => {
      res.setHeader("allow", allowed);
      json(res, 405, { error: `method ${method} not allowed on ${path}; use ${allowed}` });
    };

    if (path === "/healthz") {
      if (method !== "GET") return notAllowed("GET");
      return json(res, 200, { status: "ok", ...this.engine.stats() });
    }
    if (path === "/metrics") {
      if (method !== "GET") return notAllowed("GET");
      const text = await this.metrics.render();
      res.writeHead(200, { "content-type": this.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (path === "/v1/events") {
      if (method !== "GET") return notAllowed("GET");
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      res.write("retry: 2000\n: heck-v1 transitions\n\n");
      this.sse.add(res);
      req.on("close", () => this.sse.delete(res));
      return;
    }
    if (path === "/v1/targets") {
      if (method === "GET") {
        const status = url.searchParams.get("status");
        if (status !== null && !(HEALTH_STATUSES as readonly string[]).includes(status)) {
          return json(res, 400, { error: `status: must be one of ${HEALTH_STATUSES.join(", ")}, got ${JSON.stringify(status)}` });
        }
        return jsonArray(res, this.engine.list((status ?? undefined) as HealthStatus | undefined), targetView);
      }
      if (method !== "POST") return notAllowed("GET, POST");
      const body = await readJson(req);
      if (!body.ok) return json(res, body.status, { error: body.error, errors: [body.error] });
      try {
        const spec = this.engine.add(body.value);
        return json(res, 201, targetView(this.engine.get(spec.id)!));
      } catch (err) {
        return this.inputError(res, err);
      }
    }
    const m = /^\/v1\/targets\/([^/]+)$/.exec(path);
    if (m) {
      let id: string;
      try {
        id = decodeURIComponent(m[1]!);
      } catch {
        return json(res, 400, { error: "id: bad percent-encoding in the path" });
      }
      if (method === "GET") {
        const snap = this.engine.get(id);
        return snap ? json(res, 200, targetView(snap)) : json(res, 404, { error: `id: no target "${id}"` });
      }
      if (method === "DELETE") {
        const snap = this.engine.get(id);
        if (!snap || !this.engine.remove(id)) return json(res, 404, { error: `id: no target "${id}"` });
        return json(res, 200, targetView(snap));
      }
      if (method === "PUT") {
        const body = await readJson(req);
        if (!body.ok) return json(res, body.status, { error: body.error, errors: [body.error] });
        if (typeof body.value !== "object" || body.value === null || Array.isArray(body.value)) {
          return json(res, 400, { error: "body: must be a JSON object (a target)" });
        }
        const value = body.value as Record<string, unknown>;
        if (value["id"] !== undefined && value["id"] !== id) return json(res, 400, { error: `id: the body's id ${JSON.stringify(value["id"])} differs from the path's "${id}"` });
        try {
          const spec = this.engine.update({ ...value, id });
          if (!spec) return json(res, 404, { error: `id: no target "${id}"` });
          return json(res, 200, targetView(this.engine.get(id)!));
        } catch (err) {
          return this.inputError(res, err);
        }
      }
      return notAllowed("GET, PUT, DELETE");
    }
    json(res, 404, { error: `no route ${method} ${path}; see GET /v1/targets, GET /healthz, GET /metrics, GET /v1/events` });
  }

  private inputError(res: http.ServerResponse, err: unknown): void {
    if (err instanceof TargetInputError) return json(res, 400, { error: err.message, errors: err.errors });
    if (err instanceof TargetExistsError) return json(res, 409, { error: err.message, errors: [err.message] });
    throw err;
  }
}

/** Targets serialised per chunk before the event loop gets a turn. */
const LIST_CHUNK = 500;

/**
 * Sends a JSON array in chunks, yielding to the event loop between them.
 * At 10,000 targets the whole array is several megabytes and tens of
 * milliseconds of `JSON.stringify`; in one piece that would delay every
 * check due meanwhile. The list itself is taken at once, so it is one
 * consistent moment.
 */
async function jsonArray<T>(res: http.ServerResponse, items: T[], view: (item: T) => unknown): Promise<void> {
  res.writeHead(200, { "content-type": "application/json" });
  if (items.length <= LIST_CHUNK) {
    res.end(JSON.stringify(items.map(view)));
    return;
  }
  for (let k = 0; k < items.length; k += LIST_CHUNK) {
    const part = JSON.stringify(items.slice(k, k + LIST_CHUNK).map(view));
    // Each chunk is an array; splice them into one: "[a,b" + ",c,d" + ...
    const ok = res.write(k === 0 ? part.slice(0, -1) : `,${part.slice(1, -1)}`);
    if (res.destroyed) return;
    await new Promise<void>((resolve) => {
      if (ok) return void setImmediate(resolve);
      const go = (): void => {
        res.off("drain", go);
        res.off("close", go);
        resolve();
      };
      res.once("drain", go);
      res.once("close", go);
    });
  }
  res.end("]");
}

/** A request body: the shared reader's limits and errors, with an empty body refused by example. */
function readJson(req: http.IncomingMessage): Promise<JsonBodyResult> {
  return readJsonBody(req, { maxBytes: MAX_BODY_BYTES, whenEmpty: { error: 'body: empty; expected a JSON target such as {"id":"web-1","url":"http://127.0.0.1:12000/health"}' } });
}
