/**
 * Users, roles and key-range permissions, with etcd's rules (etcd's
 * `auth/store.go`), as replicated state.
 *
 * Every change (a user added, a role granted, auth enabled, a token issued)
 * is a command in the Raft log, so every replica holds the same users, roles
 * and tokens at the same index. Permission checks for writes run here, when
 * the command is applied: a write is judged by the permissions in force at
 * the point of the log where it lands, on every replica alike, so a role
 * revoked one entry earlier already stops it (etcd checks at apply too).
 *
 * The rules a learner meets with etcdctl: auth is off until `auth enable`,
 * which needs a user named `root` holding the role `root`; the `root` role
 * may do anything, including administration (users, roles, auth on/off);
 * everyone else may touch only the key ranges their roles grant, read, write
 * or both. While auth is on, `root` cannot be deleted or lose its role.
 *
 * Passwords never reach this file: the server hashes them before proposing
 * (hashing is slow on purpose, and randomized), and checks a password against
 * the stored hash before proposing the `authenticate` command that issues a
 * token.
 */
import { toByteString } from "./bytes.ts";
import { WireError, type Reader, type Writer } from "./wire.ts";
import type { KvError } from "./types.ts";

/** The user and role with every right. */
export const ROOT = "root";

/** What a permission allows on its key range (etcd's `authpb.Permission_Type`). */
export type PermissionType = "read" | "write" | "readwrite";

/**
 * One key-range permission of a role. An empty `rangeEnd` means the single
 * key; `[0]` means every key from `key` on; anything else is [key, rangeEnd).
 */
export interface KeyPermission {
  key: Uint8Array;
  rangeEnd: Uint8Array;
  type: PermissionType;
}

/** A user as the store keeps it. */
export interface AuthUser {
  name: string;
  /** The password hash the server computed (opaque here); "" for a user without password. */
  passwordHash: string;
  /** Such a user can authenticate only by a TLS client certificate naming it. */
  noPassword: boolean;
  /** Granted roles, sorted. */
  roles: string[];
}

/** A role as the store keeps it. */
export interface AuthRole {
  name: string;
  /** Sorted by key, as etcd lists them. */
  permissions: KeyPermission[];
}

/** One change to the auth state (etcd's Auth* requests that go through Raft). */
export type AuthOp =
  | { type: "enable" }
  | { type: "disable" }
  | { type: "user-add"; name: string; passwordHash: string; noPassword: boolean }
  | { type: "user-delete"; name: string }
  | { type: "user-change-password"; name: string; passwordHash: string }
  | { type: "user-grant-role"; name: string; role: string }
  | { type: "user-revoke-role"; name: string; role: string }
  | { type: "role-add"; name: string }
  | { type: "role-delete"; name: string }
  | { type: "role-grant-permission"; name: string; permission: KeyPermission }
  | { type: "role-revoke-permission"; name: string; key: Uint8Array; rangeEnd: Uint8Array }
  /**
   * Issues a token for `name`, whose password the proposer has checked
   * against the store at `authRevision`. `tokenPrefix` is random (from the
   * proposer); the token is `<prefix>.<log index>`, unique like etcd's
   * simple tokens.
   */
  | { type: "authenticate"; name: string; tokenPrefix: string; authRevision: number };

/** The ops that need the root role while auth is on (etcd's `needAdminPermission`). */
export function isAdminOp(op: AuthOp): boolean {
  return op.type !== "authenticate";
}

/** Tuning of the auth store; every replica must use the same values. */
export interface AuthStoreConfig {
  /** Tokens kept; the oldest is dropped beyond this (its client authenticates again). Default 10,000. */
  maxTokens: number;
}

/** Defaults for {@link AuthStoreConfig}. */
export const DEFAULT_AUTH_STORE_CONFIG: AuthStoreConfig = { maxTokens: 10_000 };

const permTypes: PermissionType[] = ["read", "write", "readwrite"];

/** A half-open range of byte strings; `end` null = no upper bound. */
interface Interval {
  begin: string;
  end: string | null;
}

function err(code: KvError["code"], message: string): KvError {
  return { code, message };
}

/** The replicated auth state: users, roles, the enabled flag, tokens, and the auth revision. */
export class AuthStore {
  private on = false;
  private rev = 1;
  private readonly users = new Map<string, AuthUser>();
  private readonly roles = new Map<string, AuthRole>();
  /** Token → user, oldest first (so the bound drops the oldest). */
  private readonly tokens = new Map<string, string>();
  /** Per user: the merged read and write intervals of all its roles (etcd's range permission cache). */
  private cache = new Map<string, { read: Interval[]; write: Interval[] }>();

  constructor(readonly config: AuthStoreConfig = DEFAULT_AUTH_STORE_CONFIG) {}

  /** Whether authentication is on. */
  get enabled(): boolean {
    return this.on;
  }

  /** The auth revision: +1 per change of users, roles, permissions or the enabled flag. */
  get revision(): number {
    return this.rev;
  }

  /** The user a token was issued to, or undefined (unknown, revoked, or auth off). */
  userOfToken(token: string): string | undefined {
    return this.on ? this.tokens.get(token) : undefined;
  }

  /** Every live token, oldest first (a server's idle-token keeper starts counting from these). */
  tokenList(): string[] {
    return [...this.tokens.keys()];
  }

  /** A user, or undefined. */
  user(name: string): AuthUser | undefined {
    const u = this.users.get(name);
    return u ? { ...u, roles: [...u.roles] } : undefined;
  }

  /** A role, or undefined. */
  role(name: string): AuthRole | undefined {
    const r = this.roles.get(name);
    return r ? { name: r.name, permissions: r.permissions.map((p) => ({ ...p })) } : undefined;
  }

  /** User names, sorted. */
  userNames(): string[] {
    return [...this.users.keys()].sort();
  }

  /** Role names, sorted. */
  roleNames(): string[] {
    return [...this.roles.keys()].sort();
  }

  /** True when `user` holds `role`. */
  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) ?? false;
  }

  // --- checks --------------------------------------------------------------------

  /** May `user` administer (users, roles, auth on/off)? Always while auth is off. */
  checkAdmin(user: string | undefined): KvError | undefined {
    if (!this.on) return undefined;
    if (!user) return err("user_empty", "user name is empty");
    const u = this.users.get(user);
    if (!u) return err("user_not_found", "user name not found");
    if (!u.roles.includes(ROOT)) return err("permission_denied", "permission denied");
    return undefined;
  }

  /** May `user` read key (or [key, rangeEnd))? */
  checkRead(user: string | undefined, key: Uint8Array, rangeEnd?: Uint8Array): KvError | undefined {
    return this.check(user, key, rangeEnd, "read");
  }

  /** May `user` write key (or delete [key, rangeEnd))? */
  checkWrite(user: string | undefined, key: Uint8Array, rangeEnd?: Uint8Array): KvError | undefined {
    return this.check(user, key, rangeEnd, "write");
  }

  private check(user: string | undefined, key: Uint8Array, rangeEnd: Uint8Array | undefined, kind: "read" | "write"): KvError | undefined {
    if (!this.on) return undefined;
    if (!user) return err("user_empty", "user name is empty");
    const u = this.users.get(user);
    if (!u) return err("permission_denied", "permission denied");
    if (u.roles.includes(ROOT)) return undefined;
    const perms = this.cache.get(user);
    if (!perms) return err("permission_denied", "permission denied");
    const intervals = kind === "read" ? perms.read : perms.write;
    const begin = toByteString(key);
    const ok = !rangeEnd || rangeEnd.length === 0 ? containsPoint(intervals, begin) : covers(intervals, { begin, end: isToEnd(rangeEnd) ? null : toByteString(rangeEnd) });
    return ok ? undefined : err("permission_denied", "permission denied");
  }

  // --- changes ---------------------------------------------------------------------

  /**
   * Applies one op by `actor` (the authenticated user, if any) at log
   * `index`. Administrative ops need the root role while auth is on. Returns
   * the issued token for `authenticate`.
   */
  apply(op: AuthOp, actor: string | undefined, index: number): { ok: true; token?: string } | { ok: false; error: KvError } {
    if (isAdminOp(op)) {
      const denied = this.checkAdmin(actor);
      if (denied) return { ok: false, error: denied };
    }
    const e = this.change(op, index);
    if (typeof e === "string") return { ok: true, token: e };
    if (e) return { ok: false, error: e };
    return { ok: true };
  }

  private change(op: AuthOp, index: number): KvError | string | undefined {
    switch (op.type) {
      case "enable": {
        if (this.on) return undefined;
        const root = this.users.get(ROOT);
        if (!root) return err("root_user_not_exist", "root user does not exist");
        if (!root.roles.includes(ROOT)) return err("root_role_not_exist", "root user does not have root role");
        this.on = true;
        this.tokens.clear();
        this.bump();
        return undefined;
      }
      case "disable":
        if (!this.on) return undefined;
        this.on = false;
        this.tokens.clear();
        this.bump();
        return undefined;
      case "user-add":
        if (op.name === "") return err("user_empty", "user name is empty");
        if (this.users.has(op.name)) return err("user_exists", "user name already exists");
        this.users.set(op.name, { name: op.name, passwordHash: op.noPassword ? "" : op.passwordHash, noPassword: op.noPassword, roles: [] });
        this.bump();
        return undefined;
      case "user-delete":
        if (this.on && op.name === ROOT) return err("invalid_auth_mgmt", "invalid auth management");
        if (!this.users.delete(op.name)) return err("user_not_found", "user name not found");
        this.dropTokensOf(op.name);
        this.bump();
        return undefined;
      case "user-change-password": {
        const u = this.users.get(op.name);
        if (!u) return err("user_not_found", "user name not found");
        u.passwordHash = op.passwordHash;
        u.noPassword = false;
        this.dropTokensOf(op.name);
        this.bump();
        return undefined;
      }
      case "user-grant-role": {
        const u = this.users.get(op.name);
        if (!u) return err("user_not_found", "user name not found");
        // The root role needs no record: holding it is what makes a user root (etcd grants it without one).
        if (op.role !== ROOT && !this.roles.has(op.role)) return err("role_not_found", "role name not found");
        if (u.roles.includes(op.role)) return undefined;
        u.roles = [...u.roles, op.role].sort();
        this.bump();
        return undefined;
      }
      case "user-revoke-role": {
        if (this.on && op.name === ROOT && op.role === ROOT) return err("invalid_auth_mgmt", "invalid auth management");
        const u = this.users.get(op.name);
        if (!u) return err("user_not_found", "user name not found");
        if (!u.roles.includes(op.role)) return err("role_not_granted", "role is not granted to the user");
        u.roles = u.roles.filter((r) => r !== op.role);
        this.bump();
        return undefined;
      }
      case "role-add":
        if (op.name === "") return err("role_empty", "role name is empty");
        if (this.roles.has(op.name)) return err("role_exists", "role name already exists");
        this.roles.set(op.name, { name: op.name, permissions: [] });
        this.bump();
        return undefined;
      case "role-delete":
        if (this.on && op.name === ROOT) return err("invalid_auth_mgmt", "invalid auth management");
        if (!this.roles.delete(op.name)) return err("role_not_found", "role name not found");
        for (const u of this.users.values()) u.roles = u.roles.filter((r) => r !== op.name);
        this.bump();
        return undefined;
      case "role-grant-permission": {
        const r = this.roles.get(op.name);
        if (!r) return err("role_not_found", "role name not found");
        const same = r.permissions.find((p) => sameRange(p, op.permission.key, op.permission.rangeEnd));
        if (same) same.type = op.permission.type;
        else r.permissions = [...r.permissions, { key: op.permission.key.slice(), rangeEnd: op.permission.rangeEnd.slice(), type: op.permission.type }].sort((a, b) => byteOrder(toByteString(a.key), toByteString(b.key)));
        this.bump();
        return undefined;
      }
      case "role-revoke-permission": {
        const r = this.roles.get(op.name);
        if (!r) return err("role_not_found", "role name not found");
        const kept = r.permissions.filter((p) => !sameRange(p, op.key, op.rangeEnd));
        if (kept.length === r.permissions.length) return err("permission_not_granted", "permission is not granted to the role");
        r.permissions = kept;
        this.bump();
        return undefined;
      }
      case "authenticate": {
        if (!this.on) return err("auth_not_enabled", "authentication is not enabled");
        const u = this.users.get(op.name);
        if (!u || u.noPassword) return err("auth_failed", "authentication failed, invalid user ID or password");
        // The password was checked against an older auth state (a password change or a deletion may have come
        // between): refuse, and let the client authenticate again (etcd's ErrAuthOldRevision).
        if (op.authRevision !== this.rev) return err("auth_old_revision", "revision of auth store is old");
        const token = `${op.tokenPrefix}.${index}`;
        this.tokens.set(token, op.name);
        while (this.tokens.size > this.config.maxTokens) this.tokens.delete(this.tokens.keys().next().value as string);
        return token;
      }
    }
  }

  private bump(): void {
    this.rev++;
    this.rebuildCache();
  }

  private dropTokensOf(user: string): void {
    for (const [t, u] of this.tokens) if (u === user) this.tokens.delete(t);
  }

  private rebuildCache(): void {
    this.cache = new Map();
    for (const u of this.users.values()) {
      const read: Interval[] = [];
      const write: Interval[] = [];
      for (const roleName of u.roles) {
        const role = this.roles.get(roleName);
        if (!role) continue;
        for (const p of role.permissions) {
          const iv = toInterval(p.key, p.rangeEnd);
          if (p.type !== "write") read.push(iv);
          if (p.type !== "read") write.push(iv);
        }
      }
      this.cache.set(u.name, { read: sortIntervals(read), write: sortIntervals(write) });
    }
  }

  // --- snapshots -------------------------------------------------------------------

  /** Writes the whole auth state. */
  write(w: Writer): void {
    w.bool(this.on).uint(this.rev);
    w.uint(this.users.size);
    for (const name of this.userNames()) {
      const u = this.users.get(name)!;
      w.string(u.name).string(u.passwordHash).bool(u.noPassword).uint(u.roles.length);
      for (const r of u.roles) w.string(r);
    }
    w.uint(this.roles.size);
    for (const name of this.roleNames()) {
      const r = this.roles.get(name)!;
      w.string(r.name).uint(r.permissions.length);
      for (const p of r.permissions) w.bytes(p.key).bytes(p.rangeEnd).uint(permTypes.indexOf(p.type));
    }
    w.uint(this.tokens.size);
    for (const [t, u] of this.tokens) w.string(t).string(u);
  }

  /** Reads what {@link AuthStore.write} wrote. */
  static read(r: Reader, config: AuthStoreConfig = DEFAULT_AUTH_STORE_CONFIG): AuthStore {
    const s = new AuthStore(config);
    s.on = r.bool();
    s.rev = r.uint();
    const nUsers = r.uint();
    for (let i = 0; i < nUsers; i++) {
      const name = r.string();
      const passwordHash = r.string();
      const noPassword = r.bool();
      const n = r.uint();
      const roles: string[] = [];
      for (let j = 0; j < n; j++) roles.push(r.string());
      s.users.set(name, { name, passwordHash, noPassword, roles });
    }
    const nRoles = r.uint();
    for (let i = 0; i < nRoles; i++) {
      const name = r.string();
      const n = r.uint();
      const permissions: KeyPermission[] = [];
      for (let j = 0; j < n; j++) {
        const key = r.bytes();
        const rangeEnd = r.bytes();
        const type = permTypes[r.uint()];
        if (!type) throw new WireError("unknown permission type");
        permissions.push({ key, rangeEnd, type });
      }
      s.roles.set(name, { name, permissions });
    }
    const nTokens = r.uint();
    for (let i = 0; i < nTokens; i++) s.tokens.set(r.string(), r.string());
    s.rebuildCache();
    return s;
  }
}

function sameRange(p: KeyPermission, key: Uint8Array, rangeEnd: Uint8Array): boolean {
  return toByteString(p.key) === toByteString(key) && toByteString(p.rangeEnd) === toByteString(rangeEnd);
}

function isToEnd(rangeEnd: Uint8Array): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

/** A permission's range as an interval; a single key k is [k, k + "\0"), the smallest interval holding only k. */
function toInterval(key: Uint8Array, rangeEnd: Uint8Array): Interval {
  const begin = toByteString(key);
  if (rangeEnd.length === 0) return { begin, end: begin + "\u0000" };
  return { begin, end: isToEnd(rangeEnd) ? null : toByteString(rangeEnd) };
}

function sortIntervals(list: Interval[]): Interval[] {
  return list.sort((a, b) => byteOrder(a.begin, b.begin));
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function containsPoint(intervals: Interval[], key: string): boolean {
  return intervals.some((iv) => iv.begin <= key && (iv.end === null || key < iv.end));
}

/** True when the union of `intervals` (sorted by begin) covers all of `want`. */
function covers(intervals: Interval[], want: Interval): boolean {
  let reached = want.begin;
  for (const iv of intervals) {
    if (iv.begin > reached) break;
    if (iv.end === null) return true;
    if (iv.end > reached) reached = iv.end;
    if (want.end !== null && reached >= want.end) return true;
  }
  return want.end !== null && reached >= want.end;
}
