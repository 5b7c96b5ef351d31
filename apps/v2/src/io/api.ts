/**
 * The HTTP API every agent serves (any node answers, for every origin):
 *
 *   GET    /v1/origins/:id              one origin: status, observer, last check time, age
 *   GET    /v1/origins[?status=s]       all origins (or those with status s)
 *   POST   /v1/origins                  add one origin (object) or several (array)
 *   DELETE /v1/origins/:id              remove an origin everywhere
 *   GET    /v1/members                  SWIM members with state and API address
 *   GET    /v1/ownership[?origin=id]    the rendezvous table this node computes
 *   GET    /v1/view                     this node's whole view (for the dashboard)
 *   GET    /v1/cluster                  every member's /v1/view, side by side (members SWIM holds dead too: one that answers is cut off, not crashed)
 *   POST   /v1/admin/faults             {block, unblock, unblockAll, dropRate}: member ids (tests, demos)
 *   POST   /v1/admin/leave              graceful leave, then the process exits
 *   GET    /healthz, /metrics, /        liveness, Prometheus, the dashboard
 *
 * Until the agent is up (joined, origin list loaded) every route but the
 * dashboard answers 503 with `retry-after` and what it is doing
 * (`/healthz`: `{"status": "starting", "id", "starting"}`), never a list
 * that is empty only because it has not been loaded yet.
 *
 * Bearer-token auth guards everything under /v1 and /metrics when a token is
 * configured (the config refuses an empty token off loopback). Bad input
 * gets a 4xx with an error naming the field; nothing in a request can crash
 * the agent.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { timingSafeEqual } from "node:crypto";
import { parseFaultCommand } from "@heck/sim";
import { countUnparsableRequests, isMalformedStatus, readJson as readJsonBody, sendJson } from "@heck/sim/http";
import { HEALTH_STATUSES, type HealthStatus } from "../core/types.ts";
import type { AgentPort } from "./agent-port.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";

const MAX_BODY_BYTES = 1024 * 1024;

/** An error that becomes an HTTP status and a JSON body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** One origin as the API reports it. */
export interface OriginView {
  id: string;
  url: string;
  status: HealthStatus;
  /** The member whose check produced this status (null before any check). */
  observer: string | null;
  /** Last check time known cluster-wide, ISO 8601 (null before any check). */
  checkedAt: string | null;
  checkedAtMs: number | null;
  /** How old this node's information is: now - checkedAtMs. */
  ageMs: number | null;
  /** When the status last changed (continuous across owners). */
  since: string | null;
  latencyMs: number | null;
  lastError: string | null;
  /** The top-k owners this node computes, primary first. */
  owners: string[];
  /** True when this node's engine checks it now. */
  checkedHere: boolean;
}

/** Builds the view of one origin from what this node knows. */
export function originView(agent: AgentPort, id: string, nowMs = Date.now()): OriginView | undefined {
  const spec = agent.origin(id);
  if (spec === undefined) return undefined;
  const rec = agent.record(id);
  return {
    id,
    url: spec.url,
    status: rec?.status ?? "unknown",
    observer: rec?.observer ?? null,
    checkedAt: rec ? new Date(rec.checkedAtMs).toISOString() : null,
    checkedAtMs: rec?.checkedAtMs ?? null,
    ageMs: rec ? Math.max(0, nowMs - rec.checkedAtMs) : null,
    since: rec ? new Date(rec.sinceMs).toISOString() : null,
    latencyMs: rec?.latencyMs ?? null,
    lastError: rec?.lastError ?? null,
    owners: [...agent.ownersOf(id)],
    checkedHere: agent.activeOrigins().has(id),
  };
}

/** The compact whole-node view the dashboard shows per node. */
export function nodeView(agent: AgentPort) {
  const now = Date.now();
  const active = agent.activeOrigins();
  const origins = agent
    .originList()
    .map((o) => o.id)
    .sort()
    .map((id) => {
      const r = agent.record(id);
      // [id, status initial, observer, age ms, owner, checked here?]
      return [id, (r?.status ?? "unknown")[0], r?.observer ?? "", r ? now - r.checkedAtMs : -1, agent.ownersOf(id)[0] ?? "", active.has(id) ? 1 : 0];
    });
  return {
    id: agent.id,
    atMs: now,
    api: agent.apiAddress,
    store: agent.storeStatus(),
    members: agent.members(),
    ownerView: [...agent.ownerView()],
    load: Object.fromEntries(agent.load()),
    checking: active.size,
    origins,
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendJson(res, status, body, { headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } });
}

/**
 * A JSON request body: content-type application/json required, at most
 * {@link MAX_BODY_BYTES}; past the limit the rest is drained (up to 16 times
 * the limit) so the client reads our 413 instead of a reset.
 */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES, requireJsonContentType: true, drainUpToBytes: 16 * MAX_BODY_BYTES });
  if (!body.ok) throw new HttpError(body.status, body.error, "body");
  return body.value;
}

/** The API server of one agent. */
export class ApiServer {
  private constructor(
    private readonly server: Server,
    readonly address: string,
    private readonly counts: { malformed: number },
  ) {}

  /** Requests refused as malformed since start: a body that is not JSON, too large, or with a bad field (400, 413), or bytes that are not HTTP. */
  get malformedRequests(): number {
    return this.counts.malformed;
  }

  /**
   * Binds `listen` ("host:port", port 0 = any) and serves `agent`, with
   * bearer auth when `token` is not empty.
   */
  static async start(agent: AgentPort, listen: string, token: string): Promise<ApiServer> {
    const i = listen.lastIndexOf(":");
    const host = listen.slice(0, i).replace(/^\[|\]$/g, "");
    const port = Number(listen.slice(i + 1));
    const counts = { malformed: 0 };
    const server = createServer((req, res) => {
      handle(agent, token, req, res).catch((e: unknown) => {
        if (e instanceof HttpError) {
          if (isMalformedStatus(e.status)) counts.malformed += 1;
          send(res, e.status, { error: e.message, ...(e.field ? { field: e.field } : {}) });
        }
        else {
          agent.log(`api: ${(e as Error).stack ?? String(e)}`);
          if (!res.headersSent) send(res, 500, { error: `internal error: ${(e as Error).message}` });
          else res.end();
        }
      });
    });
    countUnparsableRequests(server, () => (counts.malformed += 1));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    return new ApiServer(server, `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`, counts);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function authorized(token: string, req: IncomingMessage): boolean {
  if (token === "") return true;
  const h = req.headers.authorization ?? "";
  const m = /^Bearer (.+)$/.exec(h);
  if (m === null) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function handle(agent: AgentPort, token: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://agent");
  const path = url.pathname;
  const method = req.method ?? "GET";

  if (path === "/" || path === "/dashboard") {
    if (method !== "GET") throw new HttpError(405, "method: use GET");
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(DASHBOARD_HTML);
    return;
  }
  const starting = agent.starting;
  if (path === "/healthz") {
    // Not ready yet: a 503 (as a load balancer's readiness probe expects) that says why, instead of
    // a 200 whose origin count is 0 or partial because the list is still being loaded.
    if (starting !== null) {
      res.setHeader("retry-after", "1");
      send(res, 503, { status: "starting", id: agent.id, starting });
      return;
    }
    const store = agent.storeStatus();
    // members: those that own origins (SWIM alive and suspect).
    const members = agent.members().filter((m) => m.state === "alive" || m.state === "suspect").length;
    send(res, 200, { status: store.writable ? "ok" : "degraded", id: agent.id, members, origins: agent.originList().length, checking: agent.activeOrigins().size, engine: agent.engineStats(), store, malformed: agent.malformed() });
    return;
  }
  if (path === "/metrics" || path.startsWith("/v1/")) {
    if (!authorized(token, req)) {
      res.setHeader("www-authenticate", 'Bearer realm="heck"');
      throw new HttpError(401, "authorization: missing or wrong bearer token");
    }
  }
  if (starting !== null) {
    // Every other answer depends on the membership or the origin list, neither of which is whole yet:
    // an empty list here would read as "this cluster checks nothing".
    res.setHeader("retry-after", "1");
    throw new HttpError(503, `starting: this agent is ${starting}; ask again shortly, or ask another agent`);
  }
  if (path === "/metrics") {
    const { contentType, text } = await agent.metricsText();
    res.writeHead(200, { "content-type": contentType });
    res.end(text);
    return;
  }

  const originMatch = /^\/v1\/origins\/([^/]+)$/.exec(path);
  if (path === "/v1/origins") {
    if (method === "GET") {
      const status = url.searchParams.get("status");
      if (status !== null && !HEALTH_STATUSES.includes(status as HealthStatus)) throw new HttpError(400, `status: must be one of ${HEALTH_STATUSES.join(", ")}`, "status");
      const now = Date.now();
      // Filter on the record first: with 10,000 origins, building every view to keep a few costs.
      const all = agent
        .originList()
        .filter((o) => status === null || (agent.record(o.id)?.status ?? "unknown") === status)
        .map((o) => originView(agent, o.id, now)!)
        .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      send(res, 200, all);
      return;
    }
    if (method === "POST") {
      const body = await readJson(req);
      const items = Array.isArray(body) ? body : [body];
      if (items.length === 0) throw new HttpError(400, "body: an empty array adds nothing", "body");
      const seen = new Set<string>();
      // Validate everything first: a batch is added whole or not at all.
      for (const [i, item] of items.entries()) {
        const path = Array.isArray(body) ? `[${i}]` : "";
        const p = agent.validateOrigin(item, path);
        if (!p.ok) {
          const msg = p.errors.join("; ");
          throw new HttpError(400, msg, msg.slice(0, msg.indexOf(":")));
        }
        const id = (item as { id: string }).id;
        if (seen.has(id)) throw new HttpError(400, `${path}${path ? "." : ""}id: "${id}" appears twice in the body`, "id");
        seen.add(id);
        if (agent.origin(id) !== undefined) throw new HttpError(409, `id: an origin "${id}" already exists (DELETE it first)`, "id");
      }
      const added = await agent.addOrigins(items);
      send(res, 201, Array.isArray(body) ? added : added[0]);
      return;
    }
    throw new HttpError(405, "method: use GET or POST");
  }
  if (originMatch !== null) {
    const id = decodeURIComponent(originMatch[1]!);
    if (method === "GET") {
      const v = originView(agent, id);
      if (v === undefined) throw new HttpError(404, `origin: no origin "${id}"`, "id");
      send(res, 200, v);
      return;
    }
    if (method === "DELETE") {
      if (!(await agent.removeOrigin(id))) throw new HttpError(404, `origin: no origin "${id}"`, "id");
      res.writeHead(204);
      res.end();
      return;
    }
    throw new HttpError(405, "method: use GET or DELETE");
  }
  if (method !== "GET" && !path.startsWith("/v1/admin/")) throw new HttpError(405, "method: use GET");
  switch (path) {
    case "/v1/members":
      send(
        res,
        200,
        agent.memberDetails().map((m) => ({ id: m.id, name: m.id, addr: m.addr, state: m.state, incarnation: m.incarnation, api: m.api ?? null, self: m.id === agent.id })),
      );
      return;
    case "/v1/ownership": {
      const one = url.searchParams.get("origin");
      const table = one !== null ? agent.ownershipTable().filter((e) => e.originId === one) : agent.ownershipTable();
      if (one !== null && table.length === 0) throw new HttpError(404, `origin: no origin "${one}"`, "origin");
      send(res, 200, {
        self: agent.id,
        replicas: agent.replicas,
        members: [...agent.ownerView()],
        load: Object.fromEntries(agent.load()),
        origins: table.map((e) => ({ id: e.originId, owners: e.owners })),
      });
      return;
    }
    case "/v1/view":
      send(res, 200, nodeView(agent));
      return;
    case "/v1/cluster": {
      const members = agent.memberDetails();
      const nodes = await Promise.all(
        members.map(async (m) => {
          if (m.id === agent.id) return { id: m.id, state: m.state, ok: true, view: nodeView(agent) };
          if (m.api === undefined || m.state === "left") return { id: m.id, state: m.state, ok: false, error: m.state };
          // A member SWIM holds dead is asked too: if it answers, it is alive but cut off from
          // this node's gossip (a partition), which the dashboard must not show as a crash.
          try {
            const r = await fetch(`http://${m.api}/v1/view`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(m.state === "dead" ? 500 : 800) });
            if (!r.ok) return { id: m.id, state: m.state, ok: false, error: `HTTP ${r.status}` };
            return { id: m.id, state: m.state, ok: true, view: (await r.json()) as unknown };
          } catch (e) {
            return { id: m.id, state: m.state, ok: false, error: m.state === "dead" ? "dead" : (e as Error).message };
          }
        }),
      );
      send(res, 200, { self: agent.id, atMs: Date.now(), nodes });
      return;
    }
    case "/v1/admin/faults": {
      if (method !== "POST") throw new HttpError(405, "method: use POST");
      const body = (await readJson(req)) as Record<string, unknown>;
      // The shared fault-command shape of @heck/sim (block, unblock, unblockAll, dropRate),
      // with member ids (or raw host:port addresses) in the lists; `"unblock": "all"` also works.
      const all = typeof body === "object" && body !== null && !Array.isArray(body) && body.unblock === "all";
      const parsed = parseFaultCommand(all ? { ...body, unblock: undefined, unblockAll: true } : body);
      if (!parsed.ok) throw new HttpError(400, parsed.error, parsed.error.slice(0, parsed.error.indexOf(":")));
      try {
        send(res, 200, agent.setFaults(parsed.command));
      } catch (e) {
        const msg = (e as Error).message;
        throw new HttpError(400, msg, msg.slice(0, msg.indexOf(":")));
      }
      return;
    }
    case "/v1/admin/leave": {
      if (method !== "POST") throw new HttpError(405, "method: use POST");
      send(res, 202, { leaving: agent.id, graceMs: agent.handoffGraceMs });
      void agent.leave();
      return;
    }
    default:
      throw new HttpError(404, `path: no route ${path}`);
  }
}
