import http from "node:http";
import { readJson as readJsonBody, sendJson as reply, type JsonBodyResult } from "@heck/sim/http";
import type { AddressInfo } from "node:net";
import { SELECTION_FIELDS, parseSelection } from "../core/selection.ts";
import { FleetInputError } from "./fleet.ts";
import type { FleetControl } from "./split-fleet.ts";

/** Largest control request body accepted; bulk selections of 20,000 indices fit easily. */
const MAX_CONTROL_BODY_BYTES = 1024 * 1024;

/**
 * The fleet's control API, on its own port:
 *
 * - `GET /healthz`: `{ "ok": true }`
 * - `GET /origins`: `{ count, totalRequests, origins: [OriginSnapshot...] }` with per-origin request counts
 * - `GET /origins/counts`: `{ totalRequests, requests: [n0, n1, ...] }` (compact, for 10,000 origins)
 * - `GET /origins/<i>`: one OriginSnapshot
 * - `PUT /origins/<i>` with `{ "mode": "failing", ... }`: flips origin i, answers its snapshot
 * - `PUT /origins` with a behaviour plus `indices: [...]`, `from`/`to` (inclusive) or `all: true`: bulk flip
 * - `POST /origins/reset-counts`: zeroes the counts
 * - `POST /reset`: every origin healthy, counts zeroed
 * - `GET /stats`: FleetStats (open connections, evictions, modes...)
 *
 * Bad bodies get 400 with `{ "error": "...", "errors": [...] }` naming each field.
 */
export class ControlServer {
  private constructor(
    private readonly server: http.Server,
    /** The control API's base URL, e.g. `http://127.0.0.1:12999`. */
    readonly url: string,
  ) {}

  /** Starts the control API for `fleet` on `host:port` (port 0 picks a free port). */
  static async start(fleet: FleetControl, host: string, port: number): Promise<ControlServer> {
    const server = http.createServer((req, res) => {
      handle(fleet, req, res).catch((err: unknown) => reply(res, 500, { error: String(err instanceof Error ? err.message : err) }));
    });
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(new Error(`control API cannot listen on ${host}:${port}: ${err.code ?? err.message}`)));
      server.listen({ host, port }, () => resolve());
    });
    const addr = server.address() as AddressInfo;
    const shownHost = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
    return new ControlServer(server, `http://${shownHost}:${addr.port}`);
  }

  /** Stops the control API (not the fleet). */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A control body: the shared reader's limits and errors, with an empty body refused by example. */
function readJson(req: http.IncomingMessage): Promise<JsonBodyResult> {
  return readJsonBody(req, { maxBytes: MAX_CONTROL_BODY_BYTES, whenEmpty: { error: 'body: empty; expected JSON such as {"mode":"failing"}' } });
}

async function handle(fleet: FleetControl, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://control");
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const method = req.method ?? "GET";
  const notAllowed = (allowed: string): void => {
    res.setHeader("allow", allowed);
    reply(res, 405, { error: `method ${method} not allowed on ${path}; use ${allowed}` });
  };

  if (path === "/healthz") return method === "GET" ? reply(res, 200, { ok: true }) : notAllowed("GET");
  if (path === "/stats") return method === "GET" ? reply(res, 200, await fleet.stats()) : notAllowed("GET");
  if (path === "/origins/counts") {
    if (method !== "GET") return notAllowed("GET");
    const requests = await fleet.requestCounts();
    return reply(res, 200, { totalRequests: requests.reduce((a, b) => a + b, 0), requests });
  }
  if (path === "/origins/reset-counts") {
    if (method !== "POST") return notAllowed("POST");
    await fleet.resetCounts();
    return reply(res, 200, { ok: true });
  }
  if (path === "/reset") {
    if (method !== "POST") return notAllowed("POST");
    await fleet.reset();
    return reply(res, 200, { ok: true });
  }
  if (path === "/origins") {
    if (method === "GET") {
      const origins = await fleet.origins();
      return reply(res, 200, { count: fleet.count, totalRequests: origins.reduce((a, o) => a + o.requests, 0), origins });
    }
    if (method !== "PUT") return notAllowed("GET, PUT");
    const body = await readJson(req);
    if (!body.ok) return reply(res, body.status, { error: body.error, errors: [body.error] });
    if (typeof body.value !== "object" || body.value === null || Array.isArray(body.value)) {
      const e = 'body: must be a JSON object like {"mode":"failing","from":0,"to":9}';
      return reply(res, 400, { error: e, errors: [e] });
    }
    const record = body.value as Record<string, unknown>;
    const sel = parseSelection(record, fleet.count);
    if (!sel.ok) return reply(res, 400, { error: sel.errors.join("; "), errors: sel.errors });
    const behaviour = Object.fromEntries(Object.entries(record).filter(([k]) => !SELECTION_FIELDS.has(k)));
    try {
      await fleet.setMany(sel.value, behaviour);
    } catch (err) {
      if (err instanceof FleetInputError) return reply(res, 400, { error: err.message, errors: err.errors });
      throw err;
    }
    return reply(res, 200, { updated: sel.value.length });
  }
  const m = /^\/origins\/([^/]+)$/.exec(path);
  if (m) {
    const raw = m[1]!;
    const i = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(i >= 0 && i < fleet.count)) return reply(res, 404, { error: `origin: no origin "${raw}" (indices are 0-${fleet.count - 1})` });
    if (method === "GET") return reply(res, 200, await fleet.origin(i));
    if (method !== "PUT") return notAllowed("GET, PUT");
    const body = await readJson(req);
    if (!body.ok) return reply(res, body.status, { error: body.error, errors: [body.error] });
    try {
      return reply(res, 200, await fleet.setBehaviour(i, body.value));
    } catch (err) {
      if (err instanceof FleetInputError) return reply(res, 400, { error: err.message, errors: err.errors });
      throw err;
    }
  }
  reply(res, 404, { error: `no route ${method} ${path}; see GET /origins, PUT /origins/<i>, GET /stats` });
}
