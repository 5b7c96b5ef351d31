/**
 * Authentication and TLS on the client APIs, with etcd's clients and rules:
 * users, roles and key-range permissions through the etcd3 npm client; a
 * token that is garbage; the HTTP API refusing what the gRPC API refuses;
 * then a cluster serving TLS with client-certificate auth, where plaintext
 * and certificate-less clients are turned away and, with auth on, the
 * certificate's common name is the user.
 *
 * Ports 15280-15289 belong to this file (peers: 15280-15282 and 15285-15287);
 * gRPC and HTTP on free ports.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { Etcd3, EtcdPermissionDeniedError, Range } from "etcd3";
import { TestCluster, http, tempDir } from "./support/cluster.ts";
import { rawClient, type RawClient } from "./support/grpc.ts";
import { makeCerts, type TestCerts } from "./support/certs.ts";
import { RaftKvHttpClient, RaftKvHttpError } from "../src/io/http-client.ts";

const dirs: Array<() => void> = [];
afterAll(() => dirs.forEach((c) => c()));

describe("auth through etcd's Auth service and the etcd3 npm client", () => {
  let cluster: TestCluster;
  let admin: Etcd3;
  let raw: RawClient;
  let hosts: string[];

  beforeAll(async () => {
    const t = tempDir();
    dirs.push(t.cleanup);
    cluster = await TestCluster.start(3, 15280, t.dir);
    hosts = [...cluster.servers.values()].map((s) => `http://${s.grpcAddress!}`);
    admin = new Etcd3({ hosts });
    raw = rawClient((await cluster.follower()).grpcAddress!);
    await admin.user("root").create("rootpw");
    await admin.user("alice").create("alicepw");
    const reader = await admin.role("reader").create();
    await reader.grant({ permission: "Read", range: Range.prefix("shared/") });
    await reader.grant({ permission: "Readwrite", range: Range.prefix("alice/") });
    await admin.user("alice").addRole("reader");
    await admin.put("shared/x").value("hello");
    // etcd refuses to enable auth until root holds the root role; etcdctl then grants it, as here.
    await expect(raw.call("Auth.AuthEnable", {})).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION, details: "etcdserver: root user does not have root role" });
    await raw.call("Auth.UserGrantRole", { user: "root", role: "root" });
    await raw.call("Auth.AuthEnable", {});
  }, 30_000);

  afterAll(async () => {
    admin?.close();
    raw?.close();
    await cluster?.stop();
  });

  it("lets a user read and write only its ranges, checked on every member", async () => {
    const alice = new Etcd3({ hosts, auth: { username: "alice", password: "alicepw" } });
    try {
      await alice.put("alice/k").value("1");
      expect(await alice.get("alice/k").string()).toBe("1");
      expect(await alice.get("shared/x").string()).toBe("hello");
      await expect(alice.put("shared/x").value("mine")).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await expect(alice.get("root-only").string()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      await expect(alice.getAll().prefix("shared").strings()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
      // Administration is root's.
      await expect(alice.getUsers()).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
    } finally {
      alice.close();
    }
  });

  it("refuses a write with no user, a wrong password and a garbage token, each with etcd's error", async () => {
    await expect(raw.call("KV.Put", { key: Buffer.from("k"), value: Buffer.from("v") })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: user name is empty" });
    await expect(raw.call("Auth.Authenticate", { name: "alice", password: "nope" })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: "etcdserver: authentication failed, invalid user ID or password" });
    await expect(raw.call("KV.Range", { key: Buffer.from("shared/x") }, { token: "garbage.1" })).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED, details: "etcdserver: invalid auth token" });
    const { token } = await raw.call("Auth.Authenticate", { name: "root", password: "rootpw" });
    const r = await raw.call("KV.Range", { key: Buffer.from("shared/x") }, { token: token as string });
    expect((r.kvs as Array<{ value: Buffer }>)[0]!.value.toString()).toBe("hello");
  });

  it("revokes a permission and the very next write is refused (permissions are checked where the write lands in the log)", async () => {
    const { token } = await raw.call("Auth.Authenticate", { name: "root", password: "rootpw" });
    const alice = new Etcd3({ hosts, auth: { username: "alice", password: "alicepw" } });
    try {
      await alice.put("alice/before").value("1");
      await raw.call("Auth.RoleRevokePermission", { role: "reader", key: Buffer.from("alice/"), range_end: Buffer.from("alice0") }, { token: token as string });
      await expect(alice.put("alice/after").value("1")).rejects.toBeInstanceOf(EtcdPermissionDeniedError);
    } finally {
      alice.close();
      await raw.call("Auth.RoleGrantPermission", { name: "reader", perm: { permType: "READWRITE", key: Buffer.from("alice/"), range_end: Buffer.from("alice0") } }, { token: token as string });
    }
  });

  it("the HTTP API refuses what the gRPC API refuses, and accepts a token in Authorization", async () => {
    const s = await cluster.follower();
    const anon = await http(s.httpAddress!, "PUT", "/v1/kv/alice%2Fh", { value: "1" });
    expect([anon.status, anon.body.error.code]).toEqual([400, "user_empty"]);
    const read = await http(s.httpAddress!, "GET", "/v1/kv/shared%2Fx");
    expect([read.status, read.body.error.code]).toEqual([400, "user_empty"]);
    const client = new RaftKvHttpClient({ endpoints: [s.httpAddress!], credentials: { user: "alice", password: "alicepw" } });
    await client.put("alice/h", "1");
    expect((await client.get("shared/x"))?.value).toBe("hello");
    await expect(client.put("shared/x", "no")).rejects.toMatchObject({ code: "permission_denied", status: 403 });
    const bad = new RaftKvHttpClient({ endpoints: [s.httpAddress!], credentials: { user: "alice", password: "wrong" } });
    await expect(bad.get("shared/x")).rejects.toBeInstanceOf(RaftKvHttpError);
  });
});

describe("TLS on the client APIs (etcd's --cert-file, --key-file, --trusted-ca-file, --client-cert-auth)", () => {
  let cluster: TestCluster;
  let certs: TestCerts;

  beforeAll(async () => {
    const t = tempDir();
    dirs.push(t.cleanup);
    certs = makeCerts(`${t.dir}/certs`, ["root", "alice"]);
    cluster = await TestCluster.start(3, 15285, t.dir, { tls: { cert: certs.server.cert, key: certs.server.key, ca: certs.ca, clientCertAuth: true } });
  }, 30_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  const grpcAddress = () => [...cluster.servers.values()][0]!.grpcAddress!;
  const withCert = (cn: string) => grpc.credentials.createSsl(certs.ca, certs.client(cn).key, certs.client(cn).cert);

  it("serves gRPC to a client with a certificate the CA signed, and turns away plaintext and certificate-less clients", async () => {
    const good = rawClient(grpcAddress(), withCert("root"));
    await good.call("KV.Put", { key: Buffer.from("tls/a"), value: Buffer.from("1") });
    expect(((await good.call("KV.Range", { key: Buffer.from("tls/a") })).kvs as unknown[]).length).toBe(1);
    good.close();
    for (const creds of [grpc.credentials.createInsecure(), grpc.credentials.createSsl(certs.ca)]) {
      const c = rawClient(grpcAddress(), creds);
      await expect(c.call("KV.Range", { key: Buffer.from("tls/a") }, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: expect.any(Number) });
      c.close();
    }
  });

  it("with auth on, takes the certificate's common name as the user", async () => {
    const root = rawClient(grpcAddress(), withCert("root"));
    await root.call("Auth.UserAdd", { name: "root", password: "x" });
    await root.call("Auth.UserAdd", { name: "alice", password: "y" });
    await root.call("Auth.UserGrantRole", { user: "root", role: "root" });
    await root.call("Auth.AuthEnable", {});
    await root.call("KV.Put", { key: Buffer.from("tls/b"), value: Buffer.from("by root") });
    const alice = rawClient(grpcAddress(), withCert("alice"));
    await expect(alice.call("KV.Put", { key: Buffer.from("tls/b"), value: Buffer.from("by alice") })).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    await root.call("Auth.AuthDisable", {});
    root.close();
    alice.close();
  });

  it("serves the HTTP API over HTTPS to a client with the CA and a certificate", async () => {
    const s = [...cluster.servers.values()][0]!;
    const client = new RaftKvHttpClient({ endpoints: [s.httpAddress!], tls: { ca: certs.ca, ...certs.client("root") } });
    await client.put("tls/h", "over https");
    expect((await client.get("tls/h"))?.value).toBe("over https");
    await client.close();
    const plain = new RaftKvHttpClient({ endpoints: [s.httpAddress!], timeoutMs: 1_000 });
    await expect(plain.get("tls/h")).rejects.toBeInstanceOf(RaftKvHttpError);
  });
});
