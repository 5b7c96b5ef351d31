/**
 * Running a raft-kv server in-process: the peer transport, the node, and
 * (optionally) the HTTP and gRPC APIs, with a small KV client on top. This is
 * what `heck-raft server` runs and what an application embeds.
 *
 * Peer traffic (votes, appends, snapshots) can be encrypted: with `keys` or
 * `keyring`, every frame between members is sealed with AES-256-GCM by
 * @heck/sim's transport, and a member with another key cannot take part in
 * elections or replication (its frames are dropped and counted). The HTTP and
 * gRPC client APIs speak TLS with `tls` (etcd's --cert-file, --key-file,
 * --trusted-ca-file, --client-cert-auth), plaintext without.
 */
import { keyringFromBase64, openTransport, type Keyring, type TransportStats } from "@heck/sim/io";
import {
  DEFAULT_LIMITS,
  checkKey,
  checkOp,
  checkValue,
  fromUtf8,
  prefixRangeEnd,
  utf8,
  type Compare,
  type KeyValue,
  type KvEvent,
  type RequestLimits,
  type TxnRequest,
  type WriteOp,
} from "../core/kv/index.ts";
import { RaftKvNode, type RaftKvNodeOptions, type WriteResult } from "./kv-node.ts";
import { ClientSession } from "./client-session.ts";
import { HttpApi } from "./http-api.ts";
import { GrpcApi, type MemberServices } from "./grpc-api.ts";
import type { ServerTls } from "./grpc-server.ts";
import type { ServerMalformedCounts } from "./node-info.ts";
import { LeaseService } from "./leases.ts";
import { AuthService } from "./auth.ts";
import { serveMemberAdmin } from "./grpc-admin.ts";
import { ServerError } from "../core/replica/errors.ts";
import { parseListen } from "./listen.ts";

/** Options of {@link startServer}. */
export interface ServerOptions extends Omit<RaftKvNodeOptions, "transport" | "clientUrls" | "httpAddress"> {
  /** Address to bind for peers; default `peers[id]`. Port 0 picks one (then pass the real one to the other members). */
  peerListen?: string;
  /** JSON HTTP API bind address host:port (port 0 = any), or null for none. Default null. */
  http?: string | null;
  /** etcd gRPC API bind address host:port (port 0 = any), or null for none. Default null. */
  grpc?: string | null;
  /** Request size limits for both APIs. */
  limits?: RequestLimits;
  /** Largest peer frame (an append batch or a snapshot). Default 64 MiB. */
  maxPeerFrameBytes?: number;
  /**
   * Encrypt peer traffic with these base64 AES-256 keys (32 bytes each), primary
   * first, as `--key` gives them. Every member needs a key the others hold.
   */
  keys?: readonly string[];
  /** The same as a {@link Keyring} you keep, to rotate keys live (install, use, remove) or share it with other transports. Not with `keys`. */
  keyring?: Keyring;
  /** Serve both client APIs over TLS (and with `clientCertAuth`, only to clients with a certificate `ca` signed). */
  tls?: ServerTls;
}

/** What a server reports about its peer encryption (in `/v1/status` as `encryption`). */
export interface PeerEncryptionStatus {
  /** Whether peer traffic is sealed. */
  enabled: boolean;
  /** Fingerprints (first 8 hex digits of SHA-256) of the installed keys, primary first; never the keys. */
  keys: string[];
  /** Peer frames that no installed key opened (a member with another key, plaintext, or tampering); each closed its connection. */
  decryptFailures: number;
}

/** How often a server logs a rise in decryptFailures: often enough to notice a misconfigured member, rarely enough not to flood. */
const DECRYPT_LOG_INTERVAL_MS = 10_000;

/** Options of one KV call made through {@link EmbeddedKv}. */
export interface ReadOptions {
  /** Linearizable (ReadIndex, default) or serializable (local, maybe stale). */
  linearizable?: boolean;
}

/** Result of a compare-and-set. */
export interface CasResult {
  succeeded: boolean;
  revision: number;
  /** The current pair when the compare failed (undefined if the key is absent). */
  current?: KeyValue;
}

/** What a compare-and-set expects of the key; absent fields are not checked. `version: 0` means "must not exist". */
export interface CasExpectation {
  value?: string | Uint8Array;
  version?: number;
  modRevision?: number;
  createRevision?: number;
}

const asBytes = (v: string | Uint8Array): Uint8Array => (typeof v === "string" ? utf8(v) : v);
const RETRYABLE = new Set(["no_leader", "not_leader", "timeout", "proposal_dropped", "busy"]);

/**
 * A KV client bound to an in-process node. Writes carry a client session
 * (dissertation §6.3), so the built-in retries on leader changes apply each
 * write exactly once.
 */
export class EmbeddedKv {
  private readonly session = new ClientSession(
    () => this.retry(() => this.node.registerSession()),
    (error) => error instanceof ServerError && error.code === "session_expired",
  );

  constructor(
    private readonly node: RaftKvNode,
    private readonly limits: RequestLimits = DEFAULT_LIMITS,
    /** Give up retrying after this long. */
    private readonly deadlineMs = 15_000,
  ) {}

  /** Sets `key` to `value`; resolves with the new revision once committed. */
  async put(key: string | Uint8Array, value: string | Uint8Array): Promise<number> {
    const k = this.key(key);
    const v = asBytes(value);
    const e = checkValue(v, this.limits);
    if (e) throw new ServerError("too_large", e.message, { field: e.field });
    return (await this.write({ type: "put", key: k, value: v })).revision;
  }

  /** The pair at `key`, or undefined. */
  async get(key: string | Uint8Array, options: ReadOptions = {}): Promise<KeyValue | undefined> {
    const r = await this.retry(() => this.node.range({ key: this.key(key) }, options.linearizable ?? true));
    return r.response.kvs[0];
  }

  /** Text value at `key`, or undefined. */
  async getText(key: string | Uint8Array, options: ReadOptions = {}): Promise<string | undefined> {
    const kv = await this.get(key, options);
    return kv ? fromUtf8(kv.value) : undefined;
  }

  /** Deletes `key` (or every key under it with `prefix`); resolves with how many were deleted. */
  async delete(key: string | Uint8Array, options: { prefix?: boolean } = {}): Promise<number> {
    const k = this.key(key);
    const r = await this.write(options.prefix ? { type: "delete", key: k, rangeEnd: prefixRangeEnd(k) } : { type: "delete", key: k });
    return r.response.type === "delete" ? r.response.deleted : 0;
  }

  /** Writes `value` only if the key matches `expected` (an etcd Txn); atomic and linearizable. */
  async cas(key: string | Uint8Array, expected: CasExpectation, value: string | Uint8Array): Promise<CasResult> {
    const k = this.key(key);
    const compare: Compare[] = [];
    if (expected.value !== undefined) compare.push({ key: k, target: "value", result: "equal", value: asBytes(expected.value) });
    if (expected.version !== undefined) compare.push({ key: k, target: "version", result: "equal", value: expected.version });
    if (expected.modRevision !== undefined) compare.push({ key: k, target: "mod", result: "equal", value: expected.modRevision });
    if (expected.createRevision !== undefined) compare.push({ key: k, target: "create", result: "equal", value: expected.createRevision });
    const r = await this.write({ type: "txn", compare, success: [{ type: "put", key: k, value: asBytes(value) }], failure: [{ type: "range", key: k }] });
    if (r.response.type !== "txn") throw new Error("unexpected response");
    const cur = r.response.responses[0];
    return r.response.succeeded ? { succeeded: true, revision: r.revision } : { succeeded: false, revision: r.revision, ...(cur?.type === "range" && cur.kvs[0] ? { current: cur.kvs[0] } : {}) };
  }

  /**
   * One transaction, as etcd's `Txn`: if every `compare` holds, `success`
   * runs, else `failure`, atomically in one log entry. Like every write it
   * carries the client session (§6.3), so a retry after a leader change or a
   * timeout applies it once. Keys, values and the op count are checked
   * against the limits first (a `ServerError` naming the field).
   */
  async txn(request: TxnRequest): Promise<WriteResult> {
    const op: WriteOp = { type: "txn", compare: request.compare, success: request.success, failure: request.failure };
    const e = checkOp(op, this.limits, "txn");
    if (e) throw new ServerError(e.tooLarge ? "too_large" : "invalid_argument", e.message, { field: e.field });
    return this.write(op);
  }

  /** Every pair under `prefix` ("" = all keys), in key order. */
  async range(prefix: string | Uint8Array, options: ReadOptions & { limit?: number } = {}): Promise<{ kvs: KeyValue[]; revision: number; more: boolean }> {
    const p = asBytes(prefix);
    const key = p.length === 0 ? new Uint8Array([0]) : p;
    const rangeEnd = p.length === 0 ? new Uint8Array([0]) : prefixRangeEnd(p);
    const r = await this.retry(() => this.node.range({ key, rangeEnd, limit: options.limit ?? 0 }, options.linearizable ?? true));
    return { kvs: r.response.kvs, revision: r.revision, more: r.response.more };
  }

  /**
   * Watches a key (or a prefix with `prefix: true`) from `fromRevision`
   * (default: now). `onEvents` gets events in revision order; returns a cancel function.
   */
  watch(key: string | Uint8Array, options: { prefix?: boolean; fromRevision?: number; prevKv?: boolean }, onEvents: (events: KvEvent[], revision: number) => void, onCancel: (reason: string) => void = () => {}): () => void {
    const k = asBytes(key);
    const all = options.prefix === true && k.length === 0;
    const h = this.node.watch(
      {
        key: all ? new Uint8Array([0]) : k,
        ...(options.prefix ? { rangeEnd: all ? new Uint8Array([0]) : prefixRangeEnd(k) } : {}),
        startRevision: options.fromRevision ?? 0,
        prevKv: options.prevKv ?? false,
      },
      onEvents,
      (reason) => onCancel(reason),
    );
    return () => h.cancel();
  }

  private key(key: string | Uint8Array): Uint8Array {
    const k = asBytes(key);
    const e = checkKey(k, this.limits);
    if (e) throw new ServerError(e.tooLarge ? "too_large" : "invalid_argument", e.message, { field: e.field });
    return k;
  }

  private write(op: WriteOp): Promise<WriteResult> {
    return this.session.write((tag, attempts) => this.retry(() => this.node.write(op, tag()), attempts));
  }

  /** Retries while the error says nothing happened yet; notes in `attempts` when one timed out (it may have applied). */
  private async retry<T>(fn: () => Promise<T>, attempts: { ambiguous: boolean } = { ambiguous: false }): Promise<T> {
    const deadline = performance.now() + this.deadlineMs;
    let delay = 20;
    for (;;) {
      try {
        return await fn();
      } catch (error) {
        if (error instanceof ServerError && error.code === "timeout") attempts.ambiguous = true;
        if (!(error instanceof ServerError) || !RETRYABLE.has(error.code) || performance.now() + delay > deadline) throw error;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 500);
      }
    }
  }
}

/** A running server: node, APIs and an in-process client. */
export class RaftKvServer {
  /** The in-process KV client (linearizable by default). */
  readonly kv: EmbeddedKv;

  private readonly warnTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly node: RaftKvNode,
    /** Peer address host:port. */
    readonly peerAddress: string,
    private readonly http: HttpApi | null,
    private readonly grpc: GrpcApi | null,
    /** Leases and auth on this member (the services etcd offers beside the KV). */
    readonly services: MemberServices,
    limits: RequestLimits,
    private readonly peerTransport: { readonly keyring: Keyring | undefined; readonly stats: TransportStats } = { keyring: undefined, stats: { decryptFailures: 0, packetDecryptFailures: 0, frameDecryptFailures: 0, notEncrypted: 0, malformedStreams: 0 } },
    log: (line: string) => void = () => {},
  ) {
    this.kv = new EmbeddedKv(node, limits);
    if (peerTransport.keyring !== undefined) {
      // A member with the wrong key looks like a dead one; say why in the log.
      let seen = 0;
      this.warnTimer = setInterval(() => {
        const now = peerTransport.stats.decryptFailures;
        if (now > seen) log(`peer traffic: ${now - seen} frame(s) failed to decrypt in the last ${DECRYPT_LOG_INTERVAL_MS / 1000} s (${now} in all): a member with another --key, a plaintext member, or tampering`);
        seen = now;
      }, DECRYPT_LOG_INTERVAL_MS);
      this.warnTimer.unref();
    }
  }

  /** Peer encryption: on or off, key fingerprints, and the count of peer frames that failed to decrypt. */
  get encryption(): PeerEncryptionStatus {
    const ring = this.peerTransport.keyring;
    return { enabled: ring !== undefined, keys: ring?.list().keys ?? [], decryptFailures: this.peerTransport.stats.decryptFailures };
  }

  /**
   * Input refused as malformed since start, by where it came in: `peer`
   * (frames that failed to decode, and connections whose framing was not
   * ours), `grpc` and `api` (requests refused as malformed by each API).
   */
  malformed(): ServerMalformedCounts {
    return {
      peer: this.node.status().malformedFrames + this.peerTransport.stats.malformedStreams,
      grpc: this.grpc?.malformedRequests ?? 0,
      api: this.http?.malformedRequests ?? 0,
    };
  }

  /** The peer keyring (install/use/remove rotate keys live), or undefined when peer traffic is plaintext. */
  get keyring(): Keyring | undefined {
    return this.peerTransport.keyring;
  }

  /** Node id. */
  get id(): string {
    return this.node.id;
  }

  /** JSON HTTP API address host:port, or null. */
  get httpAddress(): string | null {
    return this.http?.address ?? null;
  }

  /** etcd gRPC API address host:port, or null. */
  get grpcAddress(): string | null {
    return this.grpc?.address ?? null;
  }

  /** Stops the APIs, then the node (closing its WAL). */
  async stop(): Promise<void> {
    if (this.warnTimer !== undefined) clearInterval(this.warnTimer);
    await this.http?.close();
    await this.grpc?.close();
    this.services.auth.close();
    await this.node.stop();
  }
}

/**
 * Starts a raft-kv server in this process. Bind the APIs first so their
 * addresses can be published to the cluster, then start the node.
 */
export async function startServer(options: ServerOptions): Promise<RaftKvServer> {
  const listen = options.peerListen ?? options.peers[options.id];
  if (!listen) throw new ServerError("invalid_argument", `peerListen: no address for ${options.id} (give --peers with ${options.id}=host:port)`, { field: "peerListen" });
  const { host, port } = parseListen(listen, "peerListen");
  const keyring = peerKeyring(options);
  const transport = await openTransport({ host, port, maxFrameBytes: options.maxPeerFrameBytes ?? 64 * 1024 * 1024, ...(keyring !== undefined ? { keyring } : {}) });
  const limits = options.limits ?? DEFAULT_LIMITS;
  let node: RaftKvNode | null = null;
  // The APIs need the node and the node wants their addresses: bind them on a placeholder-free path by starting the node lazily.
  let server: RaftKvServer | null = null;
  const lazy = new Proxy({} as RaftKvNode, {
    get: (_t, prop) => {
      if (!node) throw new ServerError("stopped", "server is starting");
      // `/v1/status` (HTTP) also reports peer encryption, which lives in the transport rather than the node, and what each edge refused as malformed.
      if (prop === "status") return () => ({ ...node!.status(), ...(server !== null ? { encryption: server.encryption, malformed: server.malformed() } : {}) });
      const v = Reflect.get(node, prop, node) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(node) : v;
    },
  });
  let http: HttpApi | null = null;
  let grpc: GrpcApi | null = null;
  let services: MemberServices | null = null;
  const lazyServices = (): MemberServices => {
    if (!services) throw new ServerError("stopped", "server is starting");
    return services;
  };
  const tls = options.tls ? { tls: options.tls } : {};
  try {
    if (options.http) http = await HttpApi.start(lazy, lazyServices, { ...parseListen(options.http, "http"), limits, ...tls });
    if (options.grpc) grpc = await GrpcApi.start(lazy, lazyServices, { ...parseListen(options.grpc, "grpc"), limits, ...tls });
    const peers = { ...options.peers };
    if (!options.join || peers[options.id]) peers[options.id] = transport.localAddress;
    node = await RaftKvNode.start({
      ...options,
      peers,
      transport,
      httpAddress: http?.address ?? "",
      clientUrls: grpc ? [`${options.tls ? "https" : "http"}://${grpc.address}`] : [],
    });
    services = memberServices(node, options);
  } catch (error) {
    await http?.close();
    await grpc?.close();
    await transport.close();
    throw error;
  }
  server = new RaftKvServer(node, transport.localAddress, http, grpc, services, limits, transport, options.log);
  if (keyring !== undefined) options.log?.(`peer traffic encrypted (AES-256-GCM), keys ${keyring.list().keys.join(", ")} (primary first)`);
  return server;
}

/**
 * Leases and auth for a running node. The shortest lease is 1.5 election
 * timeouts in whole seconds (etcd's rule): shorter, and a lease could expire
 * while the cluster elects a leader that could renew it.
 */
function memberServices(node: RaftKvNode, options: ServerOptions): MemberServices {
  const electionMs = node.electionTimeoutMs;
  const leases = new LeaseService(node, { minTtlSec: Math.max(1, Math.ceil((1.5 * electionMs) / 1000)), requestTimeoutMs: options.requestTimeoutMs ?? 5_000 });
  serveMemberAdmin(node);
  return { leases, auth: new AuthService(node) };
}

/** The keyring from `keys` or `keyring`, naming the option on a bad key. */
function peerKeyring(options: ServerOptions): Keyring | undefined {
  if (options.keys !== undefined && options.keyring !== undefined) throw new ServerError("invalid_argument", "keys: give keys or keyring, not both", { field: "keys" });
  if (options.keyring !== undefined) return options.keyring;
  if (options.keys === undefined) return undefined;
  try {
    return keyringFromBase64(options.keys);
  } catch (error) {
    throw new ServerError("invalid_argument", (error as Error).message, { field: "keys" });
  }
}
