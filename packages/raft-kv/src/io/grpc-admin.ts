/**
 * etcd's Cluster and Maintenance services over gRPC: what `etcdctl member
 * ...`, `endpoint status/health/hashkv`, `snapshot save`, `defrag`,
 * `alarm ...` and `move-leader` call.
 *
 * Membership changes run on the leader (the core accepts configuration
 * changes there only); a follower passes them on over the peer connection.
 * A member added through `MemberAdd` is named by its new member id in hex:
 * etcdctl prints that id, and the new server starts with `--id <that id>
 * --join`. It joins as a learner and, unless added as one, is promoted to
 * voter once it has caught up (dissertation §4.2.1), so an empty newcomer
 * never counts toward the quorum.
 */
import crypto from "node:crypto";
import type { GrpcApiContext } from "./grpc-api.ts";
import { REPORTED_VERSION } from "./grpc-api.ts";
import type { CallContext, GrpcMethod, GrpcServer, ServerStreamCall } from "./grpc-server.ts";
import { toGrpcError } from "./grpc-errors.ts";
import { headerOut, int64Field, stringList, uint64, uint64Field, type Obj } from "./grpc-fields.ts";
import { ServerError } from "../core/replica/errors.ts";
import type { RaftKvNode } from "./kv-node.ts";
import type { MemberInfo } from "./node-info.ts";
import type { KvStore } from "../core/kv/index.ts";

type Service = Record<string, GrpcMethod<Obj, Obj>>;

/** How long a member added as a voter is waited for (to start and catch up) before it stays a learner. */
const PROMOTE_PATIENCE_MS = 10 * 60 * 1000;

/**
 * Serves, on a running node, the peer call that carries membership changes
 * from a follower's Cluster service to the leader.
 */
export function serveMemberAdmin(node: RaftKvNode): void {
  node.calls.handle("admin.members", async (_from, body) => {
    const members = await onThisLeader(node, JSON.parse(Buffer.from(body).toString("utf8")) as MemberOp);
    return Buffer.from(JSON.stringify(members.map((m) => m.id)));
  });
}

/** Registers Cluster and Maintenance on `server`. */
export function registerAdmin(server: GrpcServer, api: GrpcApiContext, services: { cluster: Service; maintenance: Service }): void {
  const node = api.node;
  const header = () => headerOut(node.header());
  const admin = (ctx: CallContext) => api.services().auth.checkAdmin(api.userOf(ctx));

  // --- Cluster ------------------------------------------------------------------
  const cluster = services.cluster;
  server.addUnary(cluster.MemberList!, async () => ({ header: header(), members: node.members().map(memberOut) }));
  server.addUnary(cluster.MemberAdd!, async (r, ctx) => {
    admin(ctx);
    const urls = stringList(r, "peerURLs");
    const peerAddress = peerAddressOf(urls);
    const learner = r.isLearner === true;
    if (node.members().some((m) => m.peerAddress === peerAddress)) throw new ServerError("peer_url_exists", `peer address ${peerAddress} is already a member's`);
    const id = newMemberId(node);
    const members = await onLeader(node, { op: "add", id, peerAddress });
    if (!learner) void promoteWhenCaughtUp(node, id);
    const added = members.find((m) => m.id === id);
    return { header: header(), member: added ? memberOut(added) : { ID: uint64(BigInt(`0x${id}`)), name: "", peerURLs: urls, clientURLs: [], isLearner: true }, members: members.map(memberOut) };
  });
  server.addUnary(cluster.MemberRemove!, async (r, ctx) => {
    admin(ctx);
    const m = memberById(node, uint64Field(r, "ID"));
    return { header: header(), members: (await onLeader(node, { op: "remove", id: m.id })).map(memberOut) };
  });
  server.addUnary(cluster.MemberPromote!, async (r, ctx) => {
    admin(ctx);
    const m = memberById(node, uint64Field(r, "ID"));
    if (!m.learner) throw new ServerError("member_not_learner", `${m.id} is a voter already`);
    return { header: header(), members: (await onLeader(node, { op: "promote", id: m.id })).map(memberOut) };
  });
  server.addUnary(cluster.MemberUpdate!, async (r, ctx) => {
    admin(ctx);
    const m = memberById(node, uint64Field(r, "ID"));
    const peerAddress = peerAddressOf(stringList(r, "peerURLs"));
    if (node.members().some((x) => x.id !== m.id && x.peerAddress === peerAddress)) throw new ServerError("peer_url_exists", `peer address ${peerAddress} is already another member's`);
    // The address others dial. A running member publishes the address it really listens on when it (re)starts, so
    // this is for a member that is down and will come back elsewhere, as in etcd.
    const attrs = node.state.member(m.id) ?? { peerAddress: m.peerAddress, clientUrls: m.clientUrls, httpAddress: m.httpAddress };
    const res = await node.submit({ type: "member-attrs", nodeId: m.id, attrs: { ...attrs, peerAddress } });
    if (!res.ok) throw new ServerError("invalid_argument", res.error.message);
    return { header: header(), members: node.members().map(memberOut) };
  });

  // --- Maintenance --------------------------------------------------------------
  const maintenance = services.maintenance;
  server.addUnary(maintenance.Status!, async () => statusOut(node));
  server.addUnary(maintenance.Alarm!, async (r) => {
    // raft-kv raises no alarms: no space quota (the state lives in memory, the WAL is freed after snapshots) and no
    // corruption check beyond the WAL's CRCs, which stop a member at start. Listing and disarming find nothing.
    if (r.action === "ACTIVATE") throw new ServerError("invalid_argument", "action: raft-kv raises no alarms, so none can be activated (GET and DEACTIVATE find none)");
    return { header: header(), alarms: [] };
  });
  server.addUnary(maintenance.Defragment!, async (_r, ctx) => {
    admin(ctx);
    // Nothing to do, and nothing pretended: etcd defragments its bbolt file; raft-kv keeps its state in memory and
    // its WAL in append-only segments that are deleted whole once a snapshot covers them.
    return { header: header() };
  });
  server.addUnary(maintenance.Hash!, async (_r, ctx) => {
    admin(ctx);
    await node.readBarrier();
    return { header: header(), hash: fnv32(node.state.snapshot()) };
  });
  server.addUnary(maintenance.HashKV!, async (r, ctx) => {
    admin(ctx);
    const revision = int64Field(r, "revision");
    const store = node.state;
    // raft-kv keeps only the current state, so it can hash only the current revision.
    if (revision > store.revision) throw new ServerError("future_revision", `revision ${revision} is newer than ${store.revision}`);
    if (revision !== 0 && revision < store.revision) throw new ServerError("compacted", `raft-kv hashes only the current revision ${store.revision}`);
    return { header: headerOut(node.header(), store.revision), hash: hashKv(store), compact_revision: store.compactRevision };
  });
  server.addServerStream(maintenance.Snapshot!, (_r, call, ctx) => {
    try {
      admin(ctx);
    } catch (error) {
      call.end(toGrpcError(error));
      return;
    }
    streamSnapshot(api, call);
  });
  server.addUnary(maintenance.MoveLeader!, async (r) => {
    const target = node.members().find((m) => m.memberId === uint64Field(r, "targetID"));
    if (!target || target.learner) throw new ServerError("bad_leader_transferee", "target is not a voting member");
    if (!node.isLeader) throw new ServerError("not_leader", "move-leader goes to the leader");
    if (target.id !== node.id) await node.transferLeadership(target.id);
    return { header: header() };
  });
}

/** A membership change, run on the leader. */
type MemberOp = { op: "add"; id: string; peerAddress: string } | { op: "remove"; id: string } | { op: "promote"; id: string };

async function onThisLeader(node: RaftKvNode, op: MemberOp): Promise<MemberInfo[]> {
  try {
    switch (op.op) {
      case "add":
        return await node.addMember(op.id, op.peerAddress, true);
      case "remove":
        return await node.removeMember(op.id);
      case "promote":
        return await node.promoteMember(op.id);
    }
  } catch (error) {
    if (error instanceof ServerError && /learnerNotCaughtUp/.test(error.message)) throw new ServerError("learner_not_ready", error.message);
    throw error;
  }
}

/** Runs a membership change on the leader: here, or passed to it over the peer connection; again after a leader change. */
async function onLeader(node: RaftKvNode, op: MemberOp, timeoutMs = 10_000): Promise<MemberInfo[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      if (node.isLeader) return await onThisLeader(node, op);
      const leader = node.leader ?? (await node.waitForLeader(Math.max(1, deadline - performance.now())));
      if (leader === node.id) continue;
      const reply = await node.calls.call(leader, "admin.members", Buffer.from(JSON.stringify(op)), Math.max(1, deadline - performance.now()));
      // The leader answers with the member ids after the change; answer once this member has applied it too.
      return await waitMembers(node, JSON.parse(Buffer.from(reply).toString("utf8")) as string[], deadline);
    } catch (error) {
      const retry = error instanceof ServerError && (error.code === "not_leader" || error.code === "no_leader");
      if (!retry || performance.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Waits until this member has applied the membership the leader answered with. */
async function waitMembers(node: RaftKvNode, ids: string[], deadline: number): Promise<MemberInfo[]> {
  while (performance.now() < deadline) {
    const now = node.members();
    if (now.length === ids.length && now.every((m) => ids.includes(m.id))) return now;
    await new Promise((r) => setTimeout(r, 20));
  }
  return node.members();
}

/** Promotes `id` once it has caught up, trying for PROMOTE_PATIENCE_MS (the member may not have started yet). */
async function promoteWhenCaughtUp(node: RaftKvNode, id: string): Promise<void> {
  const deadline = performance.now() + PROMOTE_PATIENCE_MS;
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const m = node.members().find((x) => x.id === id);
    if (!m || !m.learner) return;
    try {
      await onLeader(node, { op: "promote", id }, 5_000);
      return;
    } catch (error) {
      const code = error instanceof ServerError ? error.code : "";
      if (code === "unknown_member" || code === "member_not_learner" || code === "stopped" || code === "removed") return;
    }
  }
}

function memberById(node: RaftKvNode, memberId: bigint): MemberInfo {
  const m = node.members().find((x) => x.memberId === memberId);
  if (!m) throw new ServerError("unknown_member", `no member with id ${memberId.toString(16)}`);
  return m;
}

/** A fresh member id, in hex: the new member's name. */
function newMemberId(node: RaftKvNode): string {
  for (;;) {
    const id = crypto.randomBytes(8).toString("hex");
    if (id !== "0000000000000000" && !node.members().some((m) => m.id === id)) return id;
  }
}

/** host:port from etcd's peer URLs (http://host:port). raft-kv members have one peer address. */
function peerAddressOf(urls: string[]): string {
  const first = urls[0];
  if (first === undefined) throw new ServerError("member_bad_urls", "peerURLs: give the new member's peer URL, http://host:port");
  let u: URL;
  try {
    u = new URL(first);
  } catch {
    throw new ServerError("member_bad_urls", `peerURLs: ${JSON.stringify(first)} is not a URL`);
  }
  if (!u.port || u.pathname.replace(/\/$/, "") !== "") throw new ServerError("member_bad_urls", `peerURLs: ${JSON.stringify(first)} must be scheme://host:port`);
  return `${u.hostname}:${u.port}`;
}

function memberOut(m: MemberInfo): Obj {
  // A member that has not published its attributes yet has no client URLs: etcdctl shows it as "unstarted".
  const started = m.clientUrls.length > 0 || m.httpAddress !== "";
  return { ID: uint64(m.memberId), name: started ? m.id : "", peerURLs: m.peerAddress ? [`http://${m.peerAddress}`] : [], clientURLs: m.clientUrls, isLearner: m.learner };
}

function statusOut(node: RaftKvNode): Obj {
  const s = node.status();
  const leader = node.members().find((m) => m.id === s.leader);
  return {
    header: headerOut(node.header()),
    version: REPORTED_VERSION,
    dbSize: s.dbSizeBytes,
    dbSizeInUse: s.dbSizeBytes,
    leader: leader ? uint64(leader.memberId) : "0",
    raftIndex: s.commitIndex,
    raftTerm: s.term,
    raftAppliedIndex: s.appliedIndex,
    errors: [],
    isLearner: s.members.some((m) => m.id === s.id && m.learner),
  };
}

/** FNV-1a, 32 bits: the same on every member for the same bytes. */
function fnv32(bytes: Uint8Array, h = 0x811c9dc5): number {
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A hash of the keys, values and their revisions and leases at the current revision (what etcd's HashKV compares across members). */
function hashKv(store: KvStore): number {
  const all = store.range({ key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) });
  let h = 0x811c9dc5;
  if (!all.ok) return h;
  const num = new DataView(new ArrayBuffer(8));
  const mix = (n: number) => {
    num.setFloat64(0, n);
    h = fnv32(new Uint8Array(num.buffer), h);
  };
  for (const kv of all.response.kvs) {
    h = fnv32(kv.key, h);
    h = fnv32(kv.value, h);
    for (const n of [kv.createRevision, kv.modRevision, kv.version, kv.lease]) mix(n);
  }
  return h;
}

/**
 * Snapshot files: raft-kv's own state machine snapshot (keys, leases, users
 * and roles, sessions, members' addresses) framed so etcdctl accepts the
 * download: etcd's `snapshot save` checks that the size is a multiple of 512
 * plus a 32-byte SHA-256 of everything before it. The content is not
 * etcd's bbolt database, so `etcdctl snapshot status/restore` cannot read it.
 *
 *     "HECKRAFT-SNAP\\n" (14 bytes) | u8 version (1) | u64 BE payload length | payload | zero padding | SHA-256
 */
export function snapshotFile(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(14 + 1 + 8);
  head.write("HECKRAFT-SNAP\n", 0, "latin1");
  head[14] = 1;
  head.writeBigUInt64BE(BigInt(payload.length), 15);
  const body = head.length + payload.length;
  const padded = Math.ceil(body / 512) * 512;
  const out = Buffer.alloc(padded + 32);
  head.copy(out, 0);
  out.set(payload, head.length);
  crypto.createHash("sha256").update(out.subarray(0, padded)).digest().copy(out, padded);
  return out;
}

/** Sends the current state as a snapshot file in 64 KiB chunks, each with the bytes still to come. */
function streamSnapshot(api: GrpcApiContext, call: ServerStreamCall<Obj>): void {
  const untrack = api.track(call);
  const node = api.node;
  node.readBarrier().then(
    () => {
      const file = snapshotFile(node.state.snapshot());
      const chunk = 64 * 1024;
      for (let off = 0; off < file.length && !call.ended; off += chunk) {
        const blob = file.subarray(off, Math.min(file.length, off + chunk));
        call.write({ header: headerOut(node.header()), remaining_bytes: String(file.length - off - blob.length), blob });
      }
      untrack();
      call.end();
    },
    (error: unknown) => {
      untrack();
      call.end(toGrpcError(error));
    },
  );
}
