/**
 * etcd's coordination services over gRPC: Lease (with KeepAlive as a
 * bidirectional stream), Lock (v3lockpb) and Election (v3electionpb). The
 * work is in leases.ts and recipes.ts; this file maps messages and errors.
 */
import type { KeyValue } from "../core/kv/index.ts";
import type { GrpcApiContext } from "./grpc-api.ts";
import type { BidiCall, CallContext, GrpcMethod, GrpcServer, ServerStreamCall } from "./grpc-server.ts";
import { toGrpcError } from "./grpc-errors.ts";
import { InvalidRequest, boolField, bytesField, headerOut, int64Field, kvOut, signedInt64Field, sub, type Obj } from "./grpc-fields.ts";
import { ServerError } from "../core/replica/errors.ts";
import { campaign, leaderOf, lock, observe, proclaim, resign, unlock, type LeaderKey, type RecipeContext } from "./recipes.ts";

type Service = Record<string, GrpcMethod<Obj, Obj>>;

/** Registers Lease, Lock and Election on `server`. */
export function registerCoordination(server: GrpcServer, api: GrpcApiContext, services: { lease: Service; lock: Service; election: Service }): void {
  const node = api.node;
  const header = (revision?: number) => headerOut(node.header(), revision);
  const recipe = (ctx: CallContext): RecipeContext => {
    const user = api.userOf(ctx);
    return { node, leases: api.services().leases, signal: ctx.signal, ...(user ? { user } : {}) };
  };

  // --- Lease --------------------------------------------------------------------
  const lease = services.lease;
  server.addUnary(lease.LeaseGrant!, async (r, ctx) => {
    // A TTL of 0 or less gets the minimum, as in etcd; the id must fit (0 = the server picks one).
    const ttl = signedInt64Field(r, "TTL");
    const id = int64Field(r, "ID");
    const user = api.userOf(ctx);
    const g = await api.services().leases.grant(ttl, id, user);
    return { header: header(g.revision), ID: String(g.id), TTL: String(g.ttlSec), error: "" };
  });
  server.addUnary(lease.LeaseRevoke!, async (r, ctx) => {
    const id = int64Field(r, "ID");
    const res = await api.services().leases.revoke(id, api.userOf(ctx));
    return { header: header(res.revision) };
  });
  server.addUnary(lease.LeaseTimeToLive!, async (r) => {
    const t = await api.services().leases.timeToLive(int64Field(r, "ID"), boolField(r, "keys"));
    return { header: header(), ID: String(t.id), TTL: String(t.ttlSec), grantedTTL: String(t.grantedTtlSec), keys: t.keys.map((k) => Buffer.from(k)) };
  });
  server.addUnary(lease.LeaseLeases!, async () => ({ header: header(), leases: api.services().leases.list().map((id) => ({ ID: String(id) })) }));
  server.addBidi(lease.LeaseKeepAlive!, (call, ctx) => keepAliveStream(api, call, ctx));

  // --- Lock ---------------------------------------------------------------------
  server.addUnary(services.lock.Lock!, async (r, ctx) => {
    const name = bytesField(r, "name");
    if (name.length === 0) throw new InvalidRequest("name", "is empty (a lock needs a name)");
    const got = await lock(recipe(ctx), name, int64Field(r, "lease"));
    return { header: header(got.revision), key: Buffer.from(got.key) };
  });
  server.addUnary(services.lock.Unlock!, async (r, ctx) => {
    const key = bytesField(r, "key");
    if (key.length === 0) throw new ServerError("empty_key", "key: the lock key Lock returned is required");
    return { header: header(await unlock(recipe(ctx), key)) };
  });

  // --- Election -----------------------------------------------------------------
  const election = services.election;
  server.addUnary(election.Campaign!, async (r, ctx) => {
    const name = bytesField(r, "name");
    if (name.length === 0) throw new InvalidRequest("name", "is empty (an election needs a name)");
    const res = await campaign(recipe(ctx), name, int64Field(r, "lease"), bytesField(r, "value"));
    return { header: header(res.revision), leader: leaderKeyOut(res.leader) };
  });
  server.addUnary(election.Proclaim!, async (r, ctx) => ({ header: header(await proclaim(recipe(ctx), parseLeaderKey(r), bytesField(r, "value"))) }));
  server.addUnary(election.Resign!, async (r, ctx) => ({ header: header(await resign(recipe(ctx), parseLeaderKey(r))) }));
  server.addUnary(election.Leader!, async (r, ctx) => {
    const res = await leaderOf(recipe(ctx), electionName(r));
    return { header: header(res.revision), kv: kvOut(res.kv) };
  });
  server.addServerStream(election.Observe!, (r, call, ctx) => observeStream(api, r, call, ctx, recipe));
}

/**
 * One keep-alive stream: each request renews one lease and is answered with
 * its TTL (0: no such lease), in order. A failure to reach a leader ends the
 * stream with its status, as etcd ends it; the client opens a new one.
 */
function keepAliveStream(api: GrpcApiContext, call: BidiCall<Obj, Obj>, _ctx: CallContext): void {
  const untrack = api.track(call);
  let chain: Promise<void> = Promise.resolve();
  call.onMessage((req) => {
    let id: number;
    try {
      id = int64Field(req, "ID");
    } catch (error) {
      untrack();
      call.end(toGrpcError(error));
      return;
    }
    chain = chain.then(async () => {
      if (call.ended) return;
      try {
        const ttl = await api.services().leases.keepAlive(id);
        call.write({ header: headerOut(api.node.header()), ID: String(id), TTL: String(ttl) });
      } catch (error) {
        untrack();
        call.end(toGrpcError(error));
      }
    });
  });
  call.onHalfClose(() => {
    void chain.then(() => {
      untrack();
      call.end();
    });
  });
  call.onCancel(untrack);
}

function observeStream(api: GrpcApiContext, r: Obj, call: ServerStreamCall<Obj>, ctx: CallContext, recipe: (ctx: CallContext) => RecipeContext): void {
  const untrack = api.track(call);
  const name = electionName(r);
  observe(recipe(ctx), name, (kv: KeyValue, revision: number) => call.write({ header: headerOut(api.node.header(), revision), kv: kvOut(kv) })).then(
    () => {
      untrack();
      call.end();
    },
    (error: unknown) => {
      untrack();
      call.end(error instanceof ServerError && error.code === "canceled" ? undefined : toGrpcError(error));
    },
  );
}

function electionName(r: Obj): Uint8Array {
  const name = bytesField(r, "name");
  if (name.length === 0) throw new InvalidRequest("name", "is empty (an election needs a name)");
  return name;
}

/** etcd's LeaderKey from a Proclaim or Resign request; etcd's own error when it is missing. */
function parseLeaderKey(r: Obj): LeaderKey {
  if (r.leader === undefined || r.leader === null) throw new ServerError("invalid_argument", '"leader" field must be provided');
  const l = sub(r, "leader");
  const key = bytesField(l, "key", "leader.");
  if (key.length === 0) throw new ServerError("empty_key", "leader.key: is not provided");
  return { name: bytesField(l, "name", "leader."), key, rev: int64Field(l, "rev", "leader."), lease: int64Field(l, "lease", "leader.") };
}

function leaderKeyOut(l: LeaderKey): Obj {
  return { name: Buffer.from(l.name), key: Buffer.from(l.key), rev: l.rev, lease: String(l.lease) };
}
