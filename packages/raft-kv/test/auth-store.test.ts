/**
 * Users, roles and permissions in the state machine, with etcd's rules: root
 * semantics, key-range permissions checked when a write is applied, tokens
 * issued through the log, and the auth state through snapshots.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_KV_STORE_CONFIG, KvStore, decodeCommand, encodeCommand, prefixRangeEnd, utf8, type ApplyResult, type AuthOp, type KvCommand, type WriteOp } from "../src/core/kv/index.ts";

const b = utf8;

function apply(store: KvStore, cmd: KvCommand): ApplyResult {
  const decoded = decodeCommand(encodeCommand(cmd));
  if (!decoded.ok) throw new Error(decoded.error);
  return store.apply(store.appliedIndex + 1, decoded.value);
}
const auth = (s: KvStore, op: AuthOp, user?: string) => apply(s, { type: "auth", requestId: "a", op, ...(user ? { user } : {}) });
const write = (s: KvStore, op: WriteOp, user?: string) => apply(s, { type: "write", requestId: "w", op, ...(user ? { user } : {}) });
const errorOf = (r: ApplyResult) => (r.ok ? "ok" : r.error.code);

/** root (with the root role) and alice (role reader: read foo, readwrite under app/), auth on. */
function secured(maxTokens?: number): KvStore {
  const s = new KvStore(maxTokens ? { ...DEFAULT_KV_STORE_CONFIG, maxTokens } : DEFAULT_KV_STORE_CONFIG);
  auth(s, { type: "user-add", name: "root", passwordHash: "h-root", noPassword: false });
  auth(s, { type: "user-add", name: "alice", passwordHash: "h-alice", noPassword: false });
  auth(s, { type: "role-add", name: "reader" });
  auth(s, { type: "role-grant-permission", name: "reader", permission: { key: b("foo"), rangeEnd: new Uint8Array(0), type: "read" } });
  auth(s, { type: "role-grant-permission", name: "reader", permission: { key: b("app/"), rangeEnd: prefixRangeEnd(b("app/")), type: "readwrite" } });
  auth(s, { type: "user-grant-role", name: "alice", role: "reader" });
  auth(s, { type: "user-grant-role", name: "root", role: "root" });
  expect(errorOf(auth(s, { type: "enable" }))).toBe("ok");
  return s;
}

describe("auth: enabling it (etcd's root rules)", () => {
  it("needs a root user, and that user needs the root role", () => {
    const s = new KvStore();
    expect(errorOf(auth(s, { type: "enable" }))).toBe("root_user_not_exist");
    auth(s, { type: "user-add", name: "root", passwordHash: "h", noPassword: false });
    expect(auth(s, { type: "enable" })).toMatchObject({ ok: false, error: { message: "root user does not have root role" } });
    // etcdctl's `auth enable` reacts to that error by adding the role and granting it.
    auth(s, { type: "role-add", name: "root" });
    auth(s, { type: "user-grant-role", name: "root", role: "root" });
    expect(errorOf(auth(s, { type: "enable" }))).toBe("ok");
    expect(s.auth.enabled).toBe(true);
  });

  it("protects root while auth is on: no deleting it, no revoking its role, no deleting the root role", () => {
    const s = secured();
    expect(errorOf(auth(s, { type: "user-delete", name: "root" }, "root"))).toBe("invalid_auth_mgmt");
    expect(errorOf(auth(s, { type: "user-revoke-role", name: "root", role: "root" }, "root"))).toBe("invalid_auth_mgmt");
    expect(errorOf(auth(s, { type: "role-delete", name: "root" }, "root"))).toBe("invalid_auth_mgmt");
    auth(s, { type: "disable" }, "root");
    expect(errorOf(auth(s, { type: "user-delete", name: "root" }))).toBe("ok");
  });

  it("lets only root administer while auth is on", () => {
    const s = secured();
    expect(errorOf(auth(s, { type: "role-add", name: "x" }, "alice"))).toBe("permission_denied");
    expect(errorOf(auth(s, { type: "role-add", name: "x" }))).toBe("user_empty");
    expect(errorOf(auth(s, { type: "role-add", name: "x" }, "nobody"))).toBe("user_not_found");
    expect(errorOf(auth(s, { type: "role-add", name: "x" }, "root"))).toBe("ok");
    expect(errorOf(auth(s, { type: "disable" }, "alice"))).toBe("permission_denied");
    expect(errorOf(auth(s, { type: "disable" }, "root"))).toBe("ok");
  });
});

describe("auth: users and roles, as etcd answers", () => {
  it("gives etcd's errors for duplicates, unknowns and empty names", () => {
    const s = new KvStore();
    auth(s, { type: "user-add", name: "u", passwordHash: "h", noPassword: false });
    expect(errorOf(auth(s, { type: "user-add", name: "u", passwordHash: "h", noPassword: false }))).toBe("user_exists");
    expect(errorOf(auth(s, { type: "user-add", name: "", passwordHash: "h", noPassword: false }))).toBe("user_empty");
    expect(errorOf(auth(s, { type: "role-add", name: "" }))).toBe("role_empty");
    auth(s, { type: "role-add", name: "r" });
    expect(errorOf(auth(s, { type: "role-add", name: "r" }))).toBe("role_exists");
    expect(errorOf(auth(s, { type: "user-grant-role", name: "u", role: "nope" }))).toBe("role_not_found");
    expect(errorOf(auth(s, { type: "user-grant-role", name: "nope", role: "r" }))).toBe("user_not_found");
    expect(errorOf(auth(s, { type: "user-revoke-role", name: "u", role: "r" }))).toBe("role_not_granted");
    expect(errorOf(auth(s, { type: "role-revoke-permission", name: "r", key: b("k"), rangeEnd: new Uint8Array(0) }))).toBe("permission_not_granted");
    expect(errorOf(auth(s, { type: "user-delete", name: "nope" }))).toBe("user_not_found");
  });

  it("updates a permission on the same range instead of adding a second, and keeps them sorted by key", () => {
    const s = new KvStore();
    auth(s, { type: "role-add", name: "r" });
    for (const [key, type] of [["b", "read"], ["a", "write"], ["b", "readwrite"]] as const) auth(s, { type: "role-grant-permission", name: "r", permission: { key: b(key), rangeEnd: new Uint8Array(0), type } });
    expect(s.auth.role("r")!.permissions.map((p) => [new TextDecoder().decode(p.key), p.type])).toEqual([
      ["a", "write"],
      ["b", "readwrite"],
    ]);
  });

  it("removes a deleted role from every user", () => {
    const s = secured();
    auth(s, { type: "role-delete", name: "reader" }, "root");
    expect(s.auth.user("alice")!.roles).toEqual([]);
    expect(errorOf(write(s, { type: "put", key: b("app/x"), value: b("1") }, "alice"))).toBe("permission_denied");
  });
});

describe("auth: permissions checked when a write is applied", () => {
  it("allows writes inside a readwrite prefix and refuses them elsewhere", () => {
    const s = secured();
    expect(errorOf(write(s, { type: "put", key: b("app/x"), value: b("1") }, "alice"))).toBe("ok");
    expect(errorOf(write(s, { type: "put", key: b("foo"), value: b("1") }, "alice"))).toBe("permission_denied");
    expect(errorOf(write(s, { type: "put", key: b("foo"), value: b("1") }, "root"))).toBe("ok");
    // A write without a user while auth is on: etcd's "user name is empty".
    expect(errorOf(write(s, { type: "put", key: b("app/x"), value: b("1") }))).toBe("user_empty");
  });

  it("checks a range delete against the whole range, and prevKv needs read permission too", () => {
    const s = secured();
    expect(errorOf(write(s, { type: "delete", key: b("app/"), rangeEnd: prefixRangeEnd(b("app/")) }, "alice"))).toBe("ok");
    expect(errorOf(write(s, { type: "delete", key: b("app/"), rangeEnd: b("apq") }, "alice"))).toBe("permission_denied");
    auth(s, { type: "role-add", name: "wo" }, "root");
    auth(s, { type: "role-grant-permission", name: "wo", permission: { key: b("w"), rangeEnd: new Uint8Array(0), type: "write" } }, "root");
    auth(s, { type: "user-add", name: "bob", passwordHash: "h", noPassword: false }, "root");
    auth(s, { type: "user-grant-role", name: "bob", role: "wo" }, "root");
    expect(errorOf(write(s, { type: "put", key: b("w"), value: b("1") }, "bob"))).toBe("ok");
    expect(errorOf(write(s, { type: "put", key: b("w"), value: b("1"), prevKv: true }, "bob"))).toBe("permission_denied");
  });

  it("checks every compare and every op of a transaction, nested ones included", () => {
    const s = secured();
    const txn = (compareKey: string, putKey: string): WriteOp => ({ type: "txn", compare: [{ key: b(compareKey), target: "version", result: "equal", value: 0 }], success: [{ type: "txn", compare: [], success: [{ type: "put", key: b(putKey), value: b("v") }], failure: [] }], failure: [] });
    expect(errorOf(write(s, txn("foo", "app/1"), "alice"))).toBe("ok");
    expect(errorOf(write(s, txn("secret", "app/1"), "alice"))).toBe("permission_denied");
    expect(errorOf(write(s, txn("foo", "elsewhere"), "alice"))).toBe("permission_denied");
  });

  it("judges a write by the permissions at its own place in the log: a revoke one entry earlier stops it", () => {
    const s = secured();
    auth(s, { type: "role-revoke-permission", name: "reader", key: b("app/"), rangeEnd: prefixRangeEnd(b("app/")) }, "root");
    expect(errorOf(write(s, { type: "put", key: b("app/x"), value: b("1") }, "alice"))).toBe("permission_denied");
  });

  it("needs write permission on every key of a lease to revoke it, and to attach more keys to it", () => {
    const s = secured();
    apply(s, { type: "lease-grant", requestId: "g", id: 9, ttlSec: 60 });
    write(s, { type: "put", key: b("secret"), value: b("s"), lease: 9 }, "root");
    expect(errorOf(apply(s, { type: "lease-revoke", requestId: "r", id: 9, user: "alice" }))).toBe("permission_denied");
    expect(errorOf(write(s, { type: "put", key: b("app/y"), value: b("1"), lease: 9 }, "alice"))).toBe("permission_denied");
    expect(errorOf(apply(s, { type: "lease-revoke", requestId: "r", id: 9, user: "root" }))).toBe("ok");
  });

  it("lets the leader's revocation of an expired lease through whatever the permissions (etcd revokes as root)", () => {
    const s = secured();
    apply(s, { type: "lease-grant", requestId: "g", id: 9, ttlSec: 60 });
    write(s, { type: "put", key: b("secret"), value: b("s"), lease: 9 }, "root");
    expect(errorOf(apply(s, { type: "lease-revoke", requestId: "r", id: 9 }))).toBe("user_empty");
    expect(errorOf(apply(s, { type: "lease-revoke", requestId: "r", id: 9, expired: true }))).toBe("ok");
    expect(s.get(b("secret"))).toBeUndefined();
  });

  it("answers read checks for the serving node: points and ranges", () => {
    const s = secured();
    expect(s.auth.checkRead("alice", b("foo"))).toBeUndefined();
    expect(s.auth.checkRead("alice", b("foo"), prefixRangeEnd(b("foo")))?.code).toBe("permission_denied");
    expect(s.auth.checkRead("alice", b("app/a"), b("app/z"))).toBeUndefined();
    expect(s.auth.checkRead("alice", b("app/"), new Uint8Array([0]))?.code).toBe("permission_denied");
    expect(s.auth.checkRead("root", b("anything"), new Uint8Array([0]))).toBeUndefined();
  });
});

describe("auth: tokens", () => {
  it("issues a token through the log, valid on every replica, and drops it with the user's password", () => {
    const s = secured();
    const r = auth(s, { type: "authenticate", name: "alice", tokenPrefix: "abc", authRevision: s.auth.revision });
    const token = r.ok && "token" in r ? r.token! : "";
    expect(token).toBe(`abc.${s.appliedIndex}`);
    const replica = KvStore.restore(s.snapshot());
    expect(replica.auth.userOfToken(token)).toBe("alice");
    auth(s, { type: "user-change-password", name: "alice", passwordHash: "new" }, "root");
    expect(s.auth.userOfToken(token)).toBeUndefined();
  });

  it("refuses a token for a password checked against an older auth state, and when auth is off", () => {
    const s = secured();
    const seen = s.auth.revision;
    auth(s, { type: "user-change-password", name: "alice", passwordHash: "new" }, "root");
    expect(errorOf(auth(s, { type: "authenticate", name: "alice", tokenPrefix: "x", authRevision: seen }))).toBe("auth_old_revision");
    expect(errorOf(auth(s, { type: "authenticate", name: "nobody", tokenPrefix: "x", authRevision: s.auth.revision }))).toBe("auth_failed");
    auth(s, { type: "disable" }, "root");
    expect(errorOf(auth(s, { type: "authenticate", name: "alice", tokenPrefix: "x", authRevision: s.auth.revision }))).toBe("auth_not_enabled");
  });

  it("keeps at most maxTokens, dropping the oldest", () => {
    const s = secured(2);
    for (let i = 0; i < 3; i++) auth(s, { type: "authenticate", name: "alice", tokenPrefix: `t${i}`, authRevision: s.auth.revision });
    expect(s.auth.tokenList().map((t) => t.split(".")[0])).toEqual(["t1", "t2"]);
  });
});

describe("auth: snapshots and bad commands", () => {
  it("restores users, roles, permissions, tokens and the enabled flag exactly", () => {
    const s = secured();
    auth(s, { type: "authenticate", name: "alice", tokenPrefix: "abc", authRevision: s.auth.revision });
    const copy = KvStore.restore(s.snapshot());
    expect(copy.digest()).toBe(s.digest());
    expect([copy.auth.enabled, copy.auth.revision, copy.auth.userNames(), copy.auth.roleNames()]).toEqual([true, s.auth.revision, ["alice", "root"], ["reader"]]);
    expect(copy.auth.checkWrite("alice", b("app/q"))).toBeUndefined();
  });

  it("round-trips every auth op through the command codec", () => {
    const name = fc.string({ maxLength: 8 });
    const bytes = fc.uint8Array({ maxLength: 6 });
    const op: fc.Arbitrary<AuthOp> = fc.oneof(
      fc.constant<AuthOp>({ type: "enable" }),
      fc.constant<AuthOp>({ type: "disable" }),
      fc.record({ type: fc.constant("user-add" as const), name, passwordHash: name, noPassword: fc.boolean() }),
      fc.record({ type: fc.constant("user-delete" as const), name }),
      fc.record({ type: fc.constant("user-change-password" as const), name, passwordHash: name }),
      fc.record({ type: fc.constant("user-grant-role" as const), name, role: name }),
      fc.record({ type: fc.constant("user-revoke-role" as const), name, role: name }),
      fc.record({ type: fc.constant("role-add" as const), name }),
      fc.record({ type: fc.constant("role-delete" as const), name }),
      fc.record({ type: fc.constant("role-grant-permission" as const), name, permission: fc.record({ key: bytes, rangeEnd: bytes, type: fc.constantFrom("read" as const, "write" as const, "readwrite" as const) }) }),
      fc.record({ type: fc.constant("role-revoke-permission" as const), name, key: bytes, rangeEnd: bytes }),
      fc.record({ type: fc.constant("authenticate" as const), name, tokenPrefix: name, authRevision: fc.nat() }),
    );
    fc.assert(
      fc.property(op, fc.option(name, { nil: undefined }), (o, user) => {
        const cmd: KvCommand = user ? { type: "auth", requestId: "r", op: o, user } : { type: "auth", requestId: "r", op: o };
        const back = decodeCommand(encodeCommand(cmd));
        expect(back).toEqual({ ok: true, value: cmd });
      }),
    );
  });
});
