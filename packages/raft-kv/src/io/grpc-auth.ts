/**
 * etcd's Auth service over gRPC: users, roles, key-range permissions,
 * enabling auth, and Authenticate, which returns the token later requests
 * carry in their `token` metadata. The rules are the state machine's
 * (core/kv/auth-store.ts); hashing and tokens are auth.ts's.
 */
import type { KeyPermission, PermissionType } from "../core/kv/index.ts";
import type { GrpcApiContext } from "./grpc-api.ts";
import type { CallContext, GrpcMethod, GrpcServer } from "./grpc-server.ts";
import { InvalidRequest, boolField, bytesField, headerOut, stringField, sub, type Obj } from "./grpc-fields.ts";
import type { AuthRequest } from "./auth.ts";

type Service = Record<string, GrpcMethod<Obj, Obj>>;

/** Names and passwords are text a person types; a bound keeps the log and every snapshot small. */
const MAX_NAME_BYTES = 256;
const MAX_PASSWORD_BYTES = 1024;

const PERM_TYPES: Record<string, PermissionType> = { READ: "read", WRITE: "write", READWRITE: "readwrite" };
const PERM_NAMES: Record<PermissionType, string> = { read: "READ", write: "WRITE", readwrite: "READWRITE" };

function name(r: Obj, field: string): string {
  const v = stringField(r, field);
  if (Buffer.byteLength(v) > MAX_NAME_BYTES) throw new InvalidRequest(field, `longer than ${MAX_NAME_BYTES} bytes`);
  return v;
}

function password(r: Obj): string {
  const v = stringField(r, "password");
  if (Buffer.byteLength(v) > MAX_PASSWORD_BYTES) throw new InvalidRequest("password", `longer than ${MAX_PASSWORD_BYTES} bytes`);
  return v;
}

/** Registers the Auth service on `server`. */
export function registerAuth(server: GrpcServer, api: GrpcApiContext, auth: Service): void {
  const header = (revision?: number) => ({ header: headerOut(api.node.header(), revision) });
  const service = () => api.services().auth;
  /** Runs an auth change as the caller; every change answers with just a header. */
  const change = (method: string, build: (r: Obj) => AuthRequest) =>
    server.addUnary(auth[method]!, async (r: Obj, ctx: CallContext) => {
      const request = build(r);
      return header(await service().change(request, api.userOf(ctx)));
    });

  change("AuthEnable", () => ({ type: "enable" }));
  change("AuthDisable", () => ({ type: "disable" }));
  change("UserAdd", (r) => ({ type: "user-add", name: name(r, "name"), password: password(r), noPassword: boolField(sub(r, "options"), "no_password") }));
  change("UserDelete", (r) => ({ type: "user-delete", name: name(r, "name") }));
  change("UserChangePassword", (r) => ({ type: "user-change-password", name: name(r, "name"), password: password(r) }));
  change("UserGrantRole", (r) => ({ type: "user-grant-role", name: name(r, "user"), role: name(r, "role") }));
  change("UserRevokeRole", (r) => ({ type: "user-revoke-role", name: name(r, "name"), role: name(r, "role") }));
  change("RoleAdd", (r) => ({ type: "role-add", name: name(r, "name") }));
  change("RoleDelete", (r) => ({ type: "role-delete", name: name(r, "role") }));
  change("RoleGrantPermission", (r) => {
    if (r.perm === undefined || r.perm === null) throw new InvalidRequest("perm", "is required");
    return { type: "role-grant-permission", name: name(r, "name"), permission: parsePermission(sub(r, "perm")) };
  });
  change("RoleRevokePermission", (r) => ({ type: "role-revoke-permission", name: name(r, "role"), key: bytesField(r, "key"), rangeEnd: bytesField(r, "range_end") }));

  server.addUnary(auth.Authenticate!, async (r) => {
    const token = await service().authenticate(name(r, "name"), password(r));
    return { ...header(), token };
  });
  server.addUnary(auth.UserGet!, async (r, ctx) => ({ ...header(), roles: await service().userGet(name(r, "name"), api.userOf(ctx)) }));
  server.addUnary(auth.UserList!, async (_r, ctx) => ({ ...header(), users: await service().userList(api.userOf(ctx)) }));
  server.addUnary(auth.RoleList!, async (_r, ctx) => ({ ...header(), roles: await service().roleList(api.userOf(ctx)) }));
  server.addUnary(auth.RoleGet!, async (r, ctx) => {
    const role = await service().roleGet(name(r, "role"), api.userOf(ctx));
    return { ...header(), perm: role.permissions.map(permissionOut) };
  });
}

function parsePermission(p: Obj): KeyPermission {
  const type = PERM_TYPES[String(p.permType ?? "READ")];
  if (!type) throw new InvalidRequest("perm.permType", `unknown value ${String(p.permType)}`);
  const key = bytesField(p, "key", "perm.");
  if (key.length === 0) throw new InvalidRequest("perm.key", "is empty (a permission names a key or the start of a range)");
  return { key, rangeEnd: bytesField(p, "range_end", "perm."), type };
}

function permissionOut(p: KeyPermission): Obj {
  return { permType: PERM_NAMES[p.type], key: Buffer.from(p.key), range_end: Buffer.from(p.rangeEnd) };
}
