/**
 * etcd's authentication on one member: who a request comes from, and the
 * Auth service's operations.
 *
 * The users, roles and tokens are replicated state (core/kv/auth-store.ts);
 * what stays here is what must not go into the log or must happen before it:
 * hashing passwords (slow on purpose, and salted with randomness, so the hash
 * goes into the log and every replica stores the same one), checking a
 * password before a token is issued, and a token's idle time. Like etcd's
 * "simple" tokens, a token is valid on every member once the entry that issued
 * it is applied, and each member forgets a token nobody used for
 * `tokenTtlMs` by its own clock; the client then authenticates again (etcd's
 * clients do so by themselves on "invalid auth token").
 *
 * A request names its user by a token (gRPC metadata `token`, HTTP header
 * `Authorization`), or, without a token, by the common name of the TLS client
 * certificate the server verified (etcd's `--client-cert-auth`).
 */
import crypto from "node:crypto";
import { promisify } from "node:util";
import type { AuthOp, AuthRole, KvError } from "../core/kv/index.ts";
import type { RaftKvNode } from "./kv-node.ts";
import { ServerError, kvErrorToServer } from "../core/replica/errors.ts";

const scrypt = promisify(crypto.scrypt) as (password: string, salt: Buffer, keylen: number, options: crypto.ScryptOptions) => Promise<Buffer>;

/** scrypt's cost: about 50 ms of CPU per hash on a small machine, like etcd's bcrypt cost 10. */
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;

/** Hashes a password for the log: `scrypt$N$r$p$salt$hash`, salt and hash in base64. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** True when `password` matches a hash made by {@link hashPassword} (constant-time compare). */
export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  const salt = Buffer.from(parts[4]!, "base64");
  const want = Buffer.from(parts[5]!, "base64");
  const got = await scrypt(password, salt, want.length, { N, r, p, maxmem: 64 * 1024 * 1024 });
  return crypto.timingSafeEqual(got, want);
}

/** An auth change as a client asks for it: passwords in clear (they are hashed here, before the log). */
export type AuthRequest =
  | Exclude<AuthOp, { type: "user-add" | "user-change-password" | "authenticate" }>
  | { type: "user-add"; name: string; password: string; noPassword: boolean }
  | { type: "user-change-password"; name: string; password: string };

/** Options of {@link AuthService}. */
export interface AuthServiceOptions {
  /** A member forgets a token nobody used for this long (etcd's simple tokens: 5 minutes). */
  tokenTtlMs?: number;
  /** The monotonic clock. Default performance.now. */
  now?: () => number;
}

function refusal(e: KvError): ServerError {
  return kvErrorToServer(e.code, e.message);
}

/** Authentication and the Auth service for one member. */
export class AuthService {
  private readonly lastUse = new Map<string, number>();
  private readonly tokenTtlMs: number;
  private readonly now: () => number;
  private readonly pruner: NodeJS.Timeout;

  constructor(
    private readonly node: RaftKvNode,
    options: AuthServiceOptions = {},
  ) {
    this.tokenTtlMs = options.tokenTtlMs ?? 5 * 60 * 1000;
    this.now = options.now ?? (() => performance.now());
    this.pruner = setInterval(() => this.prune(), 60_000);
    this.pruner.unref();
  }

  /** Stops the pruning timer. */
  close(): void {
    clearInterval(this.pruner);
  }

  /**
   * The user a request acts as, or undefined while auth is off. A token
   * that is unknown, revoked or idle too long is "invalid auth token"; no
   * token and no verified certificate is no user (the state machine then
   * refuses writes with "user name is empty", as etcd). The certificate's
   * name is asked for only while auth is on (it costs a look at the TLS
   * session, and most calls have no use for it).
   */
  userOf(token: string | undefined, certCommonName: () => string | undefined): string | undefined {
    const auth = this.node.state.auth;
    if (!auth.enabled) return undefined;
    if (token) {
      const user = auth.userOfToken(token);
      const now = this.now();
      const last = this.lastUse.get(token);
      if (!user || (last !== undefined && now - last > this.tokenTtlMs)) {
        this.lastUse.delete(token);
        throw new ServerError("invalid_auth_token", "invalid auth token");
      }
      this.lastUse.set(token, now);
      return user;
    }
    return certCommonName() || undefined;
  }

  /** Checks `password` and issues a token through the log (etcd's Authenticate). */
  async authenticate(name: string, password: string): Promise<string> {
    const auth = this.node.state.auth;
    if (!auth.enabled) throw new ServerError("auth_not_enabled", "authentication is not enabled");
    const revision = auth.revision;
    const user = auth.user(name);
    // The same answer for an unknown user and a wrong password: nothing to learn by trying names.
    if (!user || user.noPassword || !(await checkPassword(password, user.passwordHash))) throw new ServerError("auth_failed", "authentication failed, invalid user ID or password");
    const r = await this.node.submit({ type: "auth", op: { type: "authenticate", name, tokenPrefix: tokenPrefix(), authRevision: revision } });
    if (!r.ok) throw refusal(r.error);
    if (!("token" in r) || r.token === undefined) throw new ServerError("auth_failed", "no token issued");
    this.lastUse.set(r.token, this.now());
    return r.token;
  }

  /** Applies an auth change by `actor` through the log; resolves with the store revision. */
  async change(request: AuthRequest, actor: string | undefined): Promise<number> {
    let op: AuthOp;
    if (request.type === "user-add") {
      op = { type: "user-add", name: request.name, noPassword: request.noPassword, passwordHash: request.noPassword ? "" : await hashPassword(request.password) };
    } else if (request.type === "user-change-password") {
      op = { type: "user-change-password", name: request.name, passwordHash: await hashPassword(request.password) };
    } else {
      op = request;
    }
    const r = await this.node.submit({ type: "auth", op, ...(actor ? { user: actor } : {}) });
    if (!r.ok) throw refusal(r.error);
    return r.revision;
  }

  /** etcd's UserGet: the user's roles; root may read anyone, others only themselves. */
  async userGet(name: string, actor: string | undefined): Promise<string[]> {
    await this.node.readBarrier();
    const auth = this.node.state.auth;
    const denied = auth.checkAdmin(actor);
    if (denied && name !== actor) throw refusal(denied);
    const user = auth.user(name);
    if (!user) throw new ServerError("user_not_found", "user name not found");
    return user.roles;
  }

  /** etcd's RoleGet: the role's permissions; root may read any role, others only roles they hold. */
  async roleGet(name: string, actor: string | undefined): Promise<AuthRole> {
    await this.node.readBarrier();
    const auth = this.node.state.auth;
    const denied = auth.checkAdmin(actor);
    if (denied && !(actor && auth.hasRole(actor, name))) throw refusal(denied);
    const role = auth.role(name);
    if (!role) throw new ServerError("role_not_found", "role name not found");
    return role;
  }

  /** etcd's UserList (root only while auth is on). */
  async userList(actor: string | undefined): Promise<string[]> {
    await this.node.readBarrier();
    const denied = this.node.state.auth.checkAdmin(actor);
    if (denied) throw refusal(denied);
    return this.node.state.auth.userNames();
  }

  /** etcd's RoleList (root only while auth is on). */
  async roleList(actor: string | undefined): Promise<string[]> {
    await this.node.readBarrier();
    const denied = this.node.state.auth.checkAdmin(actor);
    if (denied) throw refusal(denied);
    return this.node.state.auth.roleNames();
  }

  /** May `user` read [key, rangeEnd) on this member? Throws etcd's refusal if not. */
  checkRead(user: string | undefined, key: Uint8Array, rangeEnd?: Uint8Array): void {
    const denied = this.node.state.auth.checkRead(user, key, rangeEnd);
    if (denied) throw refusal(denied);
  }

  /** Throws etcd's refusal unless `user` is root or auth is off (membership changes, snapshots, hashes, defragmentation). */
  checkAdmin(user: string | undefined): void {
    const denied = this.node.state.auth.checkAdmin(user);
    if (denied) throw refusal(denied);
  }

  private prune(): void {
    const auth = this.node.state.auth;
    for (const token of this.lastUse.keys()) if (!auth.userOfToken(token)) this.lastUse.delete(token);
  }
}

/** 16 random letters, as etcd's simple tokens begin; the log index follows after a dot. */
function tokenPrefix(): string {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let out = "";
  for (let i = 0; i < 16; i++) out += letters[crypto.randomInt(letters.length)];
  return out;
}
