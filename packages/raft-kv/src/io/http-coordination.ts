/**
 * Leases, locks, elections and authentication on the JSON HTTP API: the
 * same services as etcd's gRPC API (leases.ts, recipes.ts, auth.ts), for
 * `heck-raft` and curl. Lease ids are JSON numbers (decimal here; the CLI
 * prints and reads them in hex, as etcdctl does); names and keys are text.
 *
 *     POST   /v1/auth/authenticate       {"name","password"} → {"token"}; send it as `Authorization: <token>`
 *     POST   /v1/leases                  {"ttl", "id"?} → {"id","ttl","revision"}
 *     GET    /v1/leases                  → {"leases":[{"id"}]}
 *     GET    /v1/leases/:id              ?keys=true → {"id","ttl","grantedTtl","keys"}; ttl -1: no such lease
 *     POST   /v1/leases/:id/keepalive    → {"id","ttl"}; 404 lease_not_found once it is gone
 *     DELETE /v1/leases/:id              → {"revision"}: the lease and its keys are gone
 *     POST   /v1/locks/:name             {"lease"} → {"key","revision","createRevision"} once held (waits)
 *     POST   /v1/unlock                  {"key"} → {"revision"}
 *     POST   /v1/elections/:name/campaign   {"lease","value"} → {"leader":{name,key,rev,lease},"revision"} once elected
 *     POST   /v1/elections/:name/proclaim   {"leader","value"}
 *     POST   /v1/elections/:name/resign     {"leader"}
 *     GET    /v1/elections/:name            → the leader's key and value
 *     GET    /v1/elections/:name/observe    newline-delimited JSON: the leader now and on every change
 *
 * A waiting lock or campaign ends, and cleans up after itself, when the
 * client disconnects.
 */
import type http from "node:http";
import { fromUtf8, utf8 } from "../core/kv/index.ts";
import { ServerError } from "../core/replica/errors.ts";
import { bad, kvToJson, optString, optUint, queryBool, type Json } from "./http-api.ts";
import type { RaftKvNode } from "./kv-node.ts";
import type { MemberServices } from "./grpc-api.ts";
import { campaign, leaderOf, lock, observe, proclaim, resign, unlock, type LeaderKey, type RecipeContext } from "./recipes.ts";

/** What the routes need from the HTTP API. */
export interface HttpContext {
  readonly node: RaftKvNode;
  services(): MemberServices;
  userOf(req: http.IncomingMessage): string | undefined;
  readBody(req: http.IncomingMessage): Promise<Json>;
  send(res: http.ServerResponse, status: number, body: unknown): void;
  methodNotAllowed(res: http.ServerResponse, allow: string): void;
  readonly openStreams: Set<http.ServerResponse>;
}

/** Serves the request if it is one of these routes; false otherwise. */
export async function handleCoordination(api: HttpContext, req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
  const p = url.pathname;
  const method = req.method ?? "GET";
  if (p === "/v1/auth/authenticate") {
    if (method !== "POST") return notAllowed(api, res, "POST");
    const body = await api.readBody(req);
    const name = optString(body, "name");
    if (name === undefined) throw bad("name", "is required");
    const token = await api.services().auth.authenticate(name, optString(body, "password") ?? "");
    api.send(res, 200, { token });
    return true;
  }
  if (p === "/v1/leases") {
    const leases = api.services().leases;
    if (method === "GET") {
      api.send(res, 200, { leases: leases.list().map((id) => ({ id })) });
      return true;
    }
    if (method !== "POST") return notAllowed(api, res, "GET, POST");
    const body = await api.readBody(req);
    const ttl = optUint(body, "ttl");
    if (ttl === undefined) throw bad("ttl", "is required (seconds)");
    const g = await leases.grant(ttl, optUint(body, "id") ?? 0, api.userOf(req));
    api.send(res, 200, { id: g.id, ttl: g.ttlSec, revision: g.revision });
    return true;
  }
  const leaseRoute = /^\/v1\/leases\/([^/]+)(\/keepalive)?$/.exec(p);
  if (leaseRoute) {
    const id = leaseId(leaseRoute[1]!);
    const leases = api.services().leases;
    if (leaseRoute[2]) {
      if (method !== "POST") return notAllowed(api, res, "POST");
      const ttl = await leases.keepAlive(id);
      if (ttl <= 0) throw new ServerError("lease_not_found", `lease ${id} not found (expired or revoked)`);
      api.send(res, 200, { id, ttl });
      return true;
    }
    if (method === "GET") {
      const t = await leases.timeToLive(id, queryBool(url, "keys"));
      api.send(res, 200, { id, ttl: t.ttlSec, grantedTtl: t.grantedTtlSec, keys: t.keys.map(fromUtf8) });
      return true;
    }
    if (method === "DELETE") {
      api.send(res, 200, await leases.revoke(id, api.userOf(req)));
      return true;
    }
    return notAllowed(api, res, "GET, DELETE");
  }
  const lockRoute = /^\/v1\/locks\/(.+)$/.exec(p);
  if (lockRoute) {
    if (method !== "POST") return notAllowed(api, res, "POST");
    const body = await api.readBody(req);
    const got = await lock(recipe(api, req, res), nameOf(lockRoute[1]!), optUint(body, "lease") ?? 0);
    api.send(res, 200, { key: fromUtf8(got.key), revision: got.revision, createRevision: got.createRevision });
    return true;
  }
  if (p === "/v1/unlock") {
    if (method !== "POST") return notAllowed(api, res, "POST");
    const key = optString(await api.readBody(req), "key");
    if (!key) throw bad("key", "is required (the key the lock call returned)");
    api.send(res, 200, { revision: await unlock(recipe(api, req, res), utf8(key)) });
    return true;
  }
  const electionRoute = /^\/v1\/elections\/([^/]+)(?:\/(campaign|proclaim|resign|observe))?$/.exec(p);
  if (electionRoute) {
    const name = nameOf(electionRoute[1]!);
    const action = electionRoute[2];
    const ctx = recipe(api, req, res);
    if (action === undefined) {
      if (method !== "GET") return notAllowed(api, res, "GET");
      const l = await leaderOf(ctx, name);
      api.send(res, 200, { ...kvToJson(l.kv), lease: l.kv.lease, revision: l.revision });
      return true;
    }
    if (action === "observe") {
      if (method !== "GET") return notAllowed(api, res, "GET");
      observeStream(api, ctx, name, res);
      return true;
    }
    if (method !== "POST") return notAllowed(api, res, "POST");
    const body = await api.readBody(req);
    if (action === "campaign") {
      const r = await campaign(ctx, name, optUint(body, "lease") ?? 0, utf8(optString(body, "value") ?? ""));
      api.send(res, 200, { leader: leaderKeyJson(r.leader), revision: r.revision });
    } else if (action === "proclaim") {
      api.send(res, 200, { revision: await proclaim(ctx, parseLeaderKey(body), utf8(optString(body, "value") ?? "")) });
    } else {
      api.send(res, 200, { revision: await resign(ctx, parseLeaderKey(body)) });
    }
    return true;
  }
  return false;
}

function notAllowed(api: HttpContext, res: http.ServerResponse, allow: string): true {
  api.methodNotAllowed(res, allow);
  return true;
}

/** A recipe run for this request: its user, and a signal that fires when the client goes away. */
function recipe(api: HttpContext, req: http.IncomingMessage, res: http.ServerResponse): RecipeContext {
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  const user = api.userOf(req);
  return { node: api.node, leases: api.services().leases, signal: abort.signal, ...(user ? { user } : {}) };
}

function nameOf(raw: string): Uint8Array {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw bad("name", "is not valid percent-encoding");
  }
  if (name === "") throw bad("name", "must not be empty");
  return utf8(name);
}

function leaseId(raw: string): number {
  if (!/^\d{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw)) || Number(raw) === 0) throw bad("id", "must be a lease id, a positive decimal integer below 2^53");
  return Number(raw);
}

function leaderKeyJson(l: LeaderKey): Json {
  return { name: fromUtf8(l.name), key: fromUtf8(l.key), rev: l.rev, lease: l.lease };
}

function parseLeaderKey(body: Json): LeaderKey {
  const v = body.leader;
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad("leader", "is required: the leader object the campaign returned");
  const l = v as Json;
  const key = optString(l, "key", "leader.");
  if (!key) throw bad("leader.key", "is required");
  return { name: utf8(optString(l, "name", "leader.") ?? ""), key: utf8(key), rev: optUint(l, "rev", "leader.") ?? 0, lease: optUint(l, "lease", "leader.") ?? 0 };
}

function observeStream(api: HttpContext, ctx: RecipeContext, name: Uint8Array, res: http.ServerResponse): void {
  res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-cache" });
  api.openStreams.add(res);
  observe(ctx, name, (kv, revision) => res.write(JSON.stringify({ ...kvToJson(kv), lease: kv.lease, revision }) + "\n")).then(
    () => res.end(),
    (error: unknown) => {
      api.openStreams.delete(res);
      if (error instanceof ServerError && error.code === "canceled") return;
      res.end(JSON.stringify({ canceled: true, reason: error instanceof Error ? error.message : String(error) }) + "\n");
    },
  );
}
