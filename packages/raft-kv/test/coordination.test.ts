/**
 * Leases, locks and elections through etcd's gRPC API on an in-process
 * three-member cluster: the etcd3 npm client's lease, lock and election, the
 * Lock service's waiting, expiry decided by the leader (a kept-alive key
 * survives a leader change; a lease nobody renews expires within its TTL
 * plus an election), and every new request type with bad input getting
 * etcd's error while the members keep serving and stay identical.
 *
 * Ports 15270-15279 belong to this file (peers); gRPC and HTTP on free ports.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { TestCluster, tempDir } from "./support/cluster.ts";
import { eventually, nextMessage, rawClient, type Obj, type RawClient } from "./support/grpc.ts";

let cluster: TestCluster;
let cleanup: () => void;
let etcd: Etcd3;
let raw: RawClient;

beforeAll(async () => {
  const t = tempDir();
  cleanup = t.cleanup;
  cluster = await TestCluster.start(3, 15270, t.dir);
  const grpcs = [...cluster.servers.values()].map((s) => `http://${s.grpcAddress!}`);
  etcd = new Etcd3({ hosts: grpcs });
  raw = rawClient((await cluster.follower()).grpcAddress!);
}, 30_000);

afterAll(async () => {
  etcd?.close();
  raw?.close();
  await cluster?.stop();
  cleanup?.();
});

const b = (s: string) => Buffer.from(s);

describe("leases with the etcd3 npm client and etcd's Lease service", () => {
  it("grants, attaches a key, keeps it alive past its TTL, reports it and revokes it with its keys", async () => {
    const lease = etcd.lease(1);
    await lease.put("ls/a").value("1");
    const id = await lease.grant();
    // The minimum TTL is 1.5 election timeouts (0.75 s here) rounded up: 1 s.
    const ttl = await raw.call("Lease.LeaseTimeToLive", { ID: id, keys: true });
    expect([ttl.grantedTTL, (ttl.keys as Buffer[]).map(String)]).toEqual(["1", ["ls/a"]]);
    expect(((await raw.call("Lease.LeaseLeases", {})).leases as Obj[]).map((l) => l.ID)).toContain(id);
    // Renewed every third of a second: the key outlives its 1 s TTL several times over.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(await etcd.get("ls/a").string()).toBe("1");
    await lease.revoke();
    expect(await etcd.get("ls/a").string()).toBeNull();
    expect((await raw.call("Lease.LeaseTimeToLive", { ID: id })).TTL).toBe("-1");
  });

  it("expires a lease nobody renews within its TTL plus an election timeout, deleting its keys in one revision", async () => {
    // The leader starts the countdown when it applies the grant, after this moment.
    const asked = Date.now();
    const g = await raw.call("Lease.LeaseGrant", { TTL: "1" });
    await raw.call("KV.Put", { key: b("exp/a"), value: b("1"), lease: g.ID });
    await raw.call("KV.Put", { key: b("exp/b"), value: b("2"), lease: g.ID });
    const watch = raw.bidi("Watch.Watch");
    watch.write({ create_request: { key: b("exp/"), range_end: b("exp0") } });
    await nextMessage(watch, (m) => m.created === true);
    const deletes = await nextMessage(watch, (m) => Array.isArray(m.events) && m.events.length > 0);
    const waited = Date.now() - asked;
    watch.end();
    expect((deletes.events as Obj[]).map((e) => [e.type, String((e.kv as Obj).key)])).toEqual([
      ["DELETE", "exp/a"],
      ["DELETE", "exp/b"],
    ]);
    // Not before its TTL; not much after (the leader checks every 100 ms; 0.5-1 s election timeout of margin).
    expect(waited).toBeGreaterThanOrEqual(1_000);
    expect(waited).toBeLessThan(1_000 + 1_000 + 2_000);
  });

  it("keeps a renewed key through a leader change: only the leader expires leases, and a new one starts every lease afresh", async () => {
    const lease = etcd.lease(2);
    await lease.put("lc/k").value("kept");
    await lease.grant();
    let deleted = false;
    const watcher = await etcd.watch().key("lc/k").create();
    watcher.on("delete", () => (deleted = true));
    const old = await cluster.leader();
    await cluster.stopNode(old.id);
    const next = await cluster.leader();
    expect(next.id).not.toBe(old.id);
    // Past the 2 s TTL on the new leader's clock, renewals having gone on.
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await etcd.get("lc/k").string()).toBe("kept");
    expect(deleted).toBe(false);
    await lease.revoke();
    await watcher.cancel();
    await cluster.startNode(old.id);
    await cluster.leader();
  }, 30_000);
});

describe("locks", () => {
  it("the Lock service makes a second contender wait until the holder unlocks; keys are ordered by create revision", async () => {
    const la = await raw.call("Lease.LeaseGrant", { TTL: "30" });
    const lb = await raw.call("Lease.LeaseGrant", { TTL: "30" });
    const first = await raw.call("Lock.Lock", { name: b("L"), lease: la.ID });
    let secondDone = false;
    const second = raw.call("Lock.Lock", { name: b("L"), lease: lb.ID }, { timeoutMs: 20_000 }).then((r) => {
      secondDone = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(secondDone).toBe(false);
    await raw.call("Lock.Unlock", { key: first.key });
    const got = await second;
    expect(String(got.key)).toBe(`L/${BigInt(lb.ID as string).toString(16)}`);
    const [ka, kb] = await Promise.all([first.key, got.key].map((k) => raw.call("KV.Range", { key: k })));
    expect((ka!.kvs as Obj[]).length).toBe(0);
    expect(Number((kb!.header as Obj).revision)).toBeGreaterThan(Number((first.header as Obj).revision));
    await raw.call("Lease.LeaseRevoke", { ID: la.ID });
    await raw.call("Lease.LeaseRevoke", { ID: lb.ID });
  });

  it("the etcd3 npm client's lock (a lease and a create-only txn) refuses a second holder", async () => {
    const lock = etcd.lock("npm-lock");
    await lock.acquire();
    await expect(etcd.lock("npm-lock").acquire()).rejects.toThrow(/Failed to acquire a lock/);
    await lock.release();
    await etcd.lock("npm-lock").do(async () => "ok");
  });
});

describe("elections with the etcd3 npm client", () => {
  it("elects the first campaigner, hands over on resignation, and an observer sees both", async () => {
    const election = etcd.election("npm-el", 2);
    const seen: string[] = [];
    const observer = await election.observe();
    observer.on("change", (v) => seen.push(v ?? ""));
    const first = election.campaign("first");
    await new Promise<void>((r) => first.on("elected", () => r()));
    const second = etcd.election("npm-el", 2).campaign("second");
    await new Promise((r) => setTimeout(r, 300));
    expect(await election.leader()).toBe("first");
    await first.resign();
    await new Promise<void>((r) => second.on("elected", () => r()));
    expect(await election.leader()).toBe("second");
    await eventually("the observer to see the second leader", () => (seen.includes("second") ? true : undefined));
    await second.resign();
    await observer.cancel();
  }, 30_000);
});

describe("bad input to every new request type gets etcd's error, and nothing crashes or diverges", () => {
  const S = grpc.status;
  const cases: Array<[string, string, Obj, number, string | RegExp]> = [
    ["TTL above etcd's maximum", "Lease.LeaseGrant", { TTL: "9000000001" }, S.OUT_OF_RANGE, "etcdserver: too large lease TTL"],
    ["a negative lease id", "Lease.LeaseGrant", { TTL: "5", ID: "-5" }, S.INVALID_ARGUMENT, /ID/],
    ["a lease id beyond 2^53", "Lease.LeaseGrant", { TTL: "5", ID: "9007199254740993" }, S.INVALID_ARGUMENT, /ID/],
    ["revoking no lease", "Lease.LeaseRevoke", {}, S.NOT_FOUND, "etcdserver: requested lease not found"],
    ["revoking an unknown lease", "Lease.LeaseRevoke", { ID: "12345" }, S.NOT_FOUND, "etcdserver: requested lease not found"],
    ["a put to an unknown lease", "KV.Put", { key: b("k"), value: b("v"), lease: "12345" }, S.NOT_FOUND, "etcdserver: requested lease not found"],
    ["ignore_lease with a lease", "KV.Put", { key: b("k"), lease: "5", ignore_lease: true }, S.INVALID_ARGUMENT, "etcdserver: lease is provided"],
    ["ignore_value with a value", "KV.Put", { key: b("k"), value: b("v"), ignore_value: true }, S.INVALID_ARGUMENT, "etcdserver: value is provided"],
    ["ignore_value on a missing key", "KV.Put", { key: b("no-such-key"), ignore_value: true }, S.INVALID_ARGUMENT, "etcdserver: key not found"],
    ["a lock without a name", "Lock.Lock", {}, S.INVALID_ARGUMENT, /name/],
    ["a lock on an unknown lease", "Lock.Lock", { name: b("x"), lease: "12345" }, S.NOT_FOUND, "etcdserver: requested lease not found"],
    ["unlock without a key", "Lock.Unlock", {}, S.INVALID_ARGUMENT, "etcdserver: key is not provided"],
    ["a campaign without a name", "Election.Campaign", {}, S.INVALID_ARGUMENT, /name/],
    ["a campaign on an unknown lease", "Election.Campaign", { name: b("e"), lease: "12345", value: b("v") }, S.NOT_FOUND, "etcdserver: requested lease not found"],
    ["a proclaim without a leader", "Election.Proclaim", { value: b("v") }, S.INVALID_ARGUMENT, /"leader" field must be provided/],
    ["a proclaim by a non-leader", "Election.Proclaim", { leader: { name: b("e"), key: b("e/1"), rev: "3", lease: "1" }, value: b("v") }, S.UNKNOWN, "election: not leader"],
    ["a resign without a leader", "Election.Resign", {}, S.INVALID_ARGUMENT, /"leader" field must be provided/],
    ["the leader of an election nobody runs for", "Election.Leader", { name: b("nobody-runs") }, S.UNKNOWN, "election: no leader"],
    ["compacting the future", "KV.Compact", { revision: "999999" }, S.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision"],
    ["compacting a negative revision", "KV.Compact", { revision: "-1" }, S.INVALID_ARGUMENT, /revision/],
    ["adding a member without peer URLs", "Cluster.MemberAdd", {}, S.INVALID_ARGUMENT, "etcdserver: given member URLs are invalid"],
    ["adding a member with a nonsense URL", "Cluster.MemberAdd", { peerURLs: ["not a url"] }, S.INVALID_ARGUMENT, "etcdserver: given member URLs are invalid"],
    ["removing an unknown member", "Cluster.MemberRemove", { ID: "1" }, S.NOT_FOUND, "etcdserver: member not found"],
    ["promoting an unknown member", "Cluster.MemberPromote", { ID: "1" }, S.NOT_FOUND, "etcdserver: member not found"],
    ["updating an unknown member", "Cluster.MemberUpdate", { ID: "1", peerURLs: ["http://127.0.0.1:1"] }, S.NOT_FOUND, "etcdserver: member not found"],
    ["moving leadership to a stranger", "Maintenance.MoveLeader", { targetID: "1" }, S.FAILED_PRECONDITION, "etcdserver: bad leader transferee"],
    ["hashing an old revision", "Maintenance.HashKV", { revision: "1" }, S.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"],
    ["activating an alarm", "Maintenance.Alarm", { action: "ACTIVATE", alarm: "NOSPACE" }, S.INVALID_ARGUMENT, /no alarms/],
    ["a user without a name", "Auth.UserAdd", { name: "", password: "x" }, S.INVALID_ARGUMENT, "etcdserver: user name is empty"],
    ["a role without a name", "Auth.RoleAdd", { name: "" }, S.INVALID_ARGUMENT, "etcdserver: role name is empty"],
    ["a user name of 300 bytes", "Auth.UserAdd", { name: "u".repeat(300), password: "x" }, S.INVALID_ARGUMENT, /name/],
    ["a permission grant without a permission", "Auth.RoleGrantPermission", { name: "r" }, S.INVALID_ARGUMENT, /perm/],
    ["authenticating while auth is off", "Auth.Authenticate", { name: "root", password: "x" }, S.FAILED_PRECONDITION, "etcdserver: authentication is not enabled"],
    ["reading an unknown user", "Auth.UserGet", { name: "nobody" }, S.FAILED_PRECONDITION, "etcdserver: user name not found"],
    ["revoking a role never granted", "Auth.UserRevokeRole", { name: "nobody", role: "r" }, S.FAILED_PRECONDITION, "etcdserver: user name not found"],
  ];

  it.each(cases)("%s", async (_what, method, req, code, details) => {
    const err = (await raw.call(method, req).then(
      () => null,
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError | null;
    expect(err, `${method} should fail`).not.toBeNull();
    expect(err!.code).toBe(code);
    if (typeof details === "string") expect(err!.details).toBe(details);
    else expect(err!.details).toMatch(details);
  });

  it("answers a keep-alive for an unknown lease with TTL 0, and a time-to-live with -1, as etcd", async () => {
    const ka = raw.bidi("Lease.LeaseKeepAlive");
    ka.write({ ID: "12345" });
    const r = await nextMessage(ka);
    ka.end();
    expect([r.ID, r.TTL]).toEqual(["12345", "0"]);
    expect((await raw.call("Lease.LeaseTimeToLive", { ID: "12345" })).TTL).toBe("-1");
  });

  it("ends a keep-alive stream whose request is malformed, and keeps serving; every member holds the same data", async () => {
    const ka = raw.bidi("Lease.LeaseKeepAlive");
    const failed = new Promise<grpc.ServiceError>((resolve) => ka.on("error", resolve));
    ka.write({ ID: "-3" });
    expect((await failed).code).toBe(grpc.status.INVALID_ARGUMENT);
    await etcd.put("still").value("serving");
    expect(await etcd.get("still").string()).toBe("serving");
    const hashes = await eventually("every member at the same revision", async () => {
      const rs = await Promise.all([...cluster.servers.values()].map((s) => rawClient(s.grpcAddress!).call("Maintenance.HashKV", {})));
      const revs = new Set(rs.map((r) => (r.header as Obj).revision));
      return revs.size === 1 ? rs.map((r) => r.hash) : undefined;
    });
    expect(new Set(hashes).size).toBe(1);
  });
});
