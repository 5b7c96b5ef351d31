/**
 * The agent's configuration: one object whether it comes from a YAML/JSON
 * file, flags, or both (flags win). Validation is pure and names the field
 * of every error, so `heck agent` refuses a bad config before it binds
 * anything. Every default says why.
 */
import type { Decoded } from "./health-record.ts";

/** Which store keeps the shared state. */
export type StoreChoice = "crdt" | "raft" | "etcd";

/** A fully validated agent configuration. */
export interface AgentConfig {
  /** Member name, unique in the cluster; also the crdt replica id and the record observer. */
  id: string;
  /** SWIM UDP+TCP listen address. 7946 is memberlist's and Serf's port. */
  bind: string;
  /** Addresses of running agents' SWIM ports to join through; empty starts a new cluster. */
  join: string[];
  /**
   * How long to retry `join` before giving up with an error. Consul's
   * retry_join retries forever by default (0 here); 30 s makes a mistyped
   * seed a clear failure at start instead of an agent that silently owns nothing.
   */
  joinTimeoutMs: number;
  /** HTTP API and dashboard listen address. */
  api: string;
  store: StoreChoice;
  /**
   * Where the crdt replica or the raft member keeps its data. The default,
   * `.heck/data/<id>` under the working directory, sits in the repository's
   * git-ignored scratch folder when an agent is started from a checkout.
   */
  dataDir: string;
  /** crdt gossip port on the bind host (0 = any free port; advertised through SWIM metadata). */
  crdtPort: number;
  /** crdt anti-entropy period: 200 ms spreads a record to 10 nodes in well under a second (about log3 n rounds). */
  crdtSyncIntervalMs: number;
  /** raft-kv members, id=host:port of their peer port. An agent whose id is listed embeds a member. */
  raftPeers: Record<string, string>;
  /** This member's etcd gRPC listen address (only for embedded members). */
  raftGrpc: string;
  /** gRPC endpoints of raft-kv members, for agents that are not members (or an external raft-kv cluster). */
  raftEndpoints: string[];
  /** etcd client endpoints (--store etcd). */
  etcdEndpoints: string[];
  /** Key prefix in the store, so several clusters (or other software) can share one etcd. */
  prefix: string;
  /** Bearer token required on the API; may be empty only when the API is bound to loopback. */
  token: string;
  /** Base64 AES-256 key for SWIM gossip; may be empty only when bind is loopback. */
  gossipKey: string;
  /** k: checkers per origin (primary + idle backups). 1: one check per origin per interval, the no-DDoS promise. */
  replicas: number;
  /** Default check interval for origins that set none. 2 s is HAProxy's `inter` (and v1's default). */
  intervalMs: number;
  /** Default per-check timeout: 1 s, Kubernetes' probe default. */
  timeoutMs: number;
  /** Default rise/fall: HAProxy's 2 and 3. */
  rise: number;
  fall: number;
  /** Max age of a stored record before its owner rewrites it unchanged: 5 intervals bounds "age" while cutting store writes 5x. */
  refreshMs: number;
  /** How long a node keeps checking an origin it no longer owns, waiting for the new owner's first record. */
  handoffGraceMs: number;
  /** Backups take over an origin whose record is older than rank x this (0: only on membership changes). */
  promoteAfterMs: number;
  /** SWIM timing preset: "lan" (memberlist defaults), "local" (loopback: faster detection). */
  swimPreset: "lan" | "wan" | "local";
  /** Extra SWIM config fields (validated by @heck/swim). */
  swim: Record<string, number | boolean>;
  /** Checks in flight per agent. 1000: v1's default, enough for 10,000 origins at 1 s on loopback. */
  maxConcurrentChecks: number;
  /** Origins to add at start when the store does not have them yet (raw v1 target objects). */
  origins: Record<string, unknown>[];
}

/** Defaults for everything but `id`. */
export function defaultConfig(id = ""): AgentConfig {
  return {
    id,
    bind: "127.0.0.1:7946",
    join: [],
    joinTimeoutMs: 30_000,
    api: "127.0.0.1:8946",
    store: "crdt",
    dataDir: `.heck/data/${id || "agent"}`,
    crdtPort: 0,
    crdtSyncIntervalMs: 200,
    raftPeers: {},
    raftGrpc: "127.0.0.1:0",
    raftEndpoints: [],
    etcdEndpoints: [],
    prefix: "heck/",
    token: "",
    gossipKey: "",
    replicas: 1,
    intervalMs: 2000,
    timeoutMs: 1000,
    rise: 2,
    fall: 3,
    refreshMs: 0, // 0 = derived: 5 x intervalMs
    handoffGraceMs: 0, // 0 = derived: 2 x intervalMs + 1 s
    promoteAfterMs: -1, // -1 = derived: 0 when replicas = 1, else 3 x refreshMs
    swimPreset: "lan",
    swim: {},
    maxConcurrentChecks: 1000,
    origins: [],
  };
}

/** The agent/member id rule: what SWIM names and crdt replica ids both accept. */
export const MEMBER_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const HOST_PORT = /^([^\s:]+|\[[^\]]+\]):(\d{1,5})$/;

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Splits "host:port"; undefined when malformed. */
export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const m = HOST_PORT.exec(address);
  if (m === null || Number(m[2]) > 65535) return undefined;
  return { host: m[1]!, port: Number(m[2]) };
}

type Errors = string[];

function hostPort(v: unknown, field: string, errors: Errors): string | undefined {
  if (typeof v !== "string" || splitHostPort(v) === undefined) {
    errors.push(`${field}: must be "host:port" (port 0-65535), got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

function int(v: unknown, field: string, min: number, max: number, errors: Errors): number | undefined {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    errors.push(`${field}: must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

function list(v: unknown, field: string, errors: Errors, each: (item: unknown, f: string) => string | undefined): string[] | undefined {
  const arr = typeof v === "string" ? v.split(",").map((s) => s.trim()).filter((s) => s.length > 0) : v;
  if (!Array.isArray(arr)) {
    errors.push(`${field}: must be a list (or a comma-separated string)`);
    return undefined;
  }
  const out: string[] = [];
  arr.forEach((item, i) => {
    const r = each(item, `${field}[${i}]`);
    if (r !== undefined) out.push(r);
  });
  return out;
}

/**
 * Validates a raw config object (file contents merged with flags) over the
 * defaults. Unknown fields are errors: a misspelt `intervalMS` silently
 * ignored would leave the user believing it applies.
 */
export function decodeAgentConfig(raw: unknown): Decoded<AgentConfig> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return { ok: false, field: "config", message: "config: must be an object" };
  const input = raw as Record<string, unknown>;
  const c = defaultConfig(typeof input.id === "string" ? input.id : "");
  const errors: Errors = [];
  const known = new Set(Object.keys(c));
  for (const key of Object.keys(input)) if (!known.has(key)) errors.push(`${key}: unknown field (known: ${[...known].join(", ")})`);
  const get = <K extends keyof AgentConfig>(k: K): unknown => (input[k] === undefined ? c[k] : input[k]);

  if (typeof input.id !== "string" || !MEMBER_ID_PATTERN.test(input.id)) errors.push(`id: required, 1-64 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(input.id)}`);
  c.bind = hostPort(get("bind"), "bind", errors) ?? c.bind;
  c.api = hostPort(get("api"), "api", errors) ?? c.api;
  c.join = list(get("join"), "join", errors, (item, f) => hostPort(item, f, errors)) ?? [];
  c.joinTimeoutMs = int(get("joinTimeoutMs"), "joinTimeoutMs", 0, 86_400_000, errors) ?? c.joinTimeoutMs;
  const store = get("store");
  if (store !== "crdt" && store !== "raft" && store !== "etcd") errors.push(`store: must be crdt, raft or etcd, got ${JSON.stringify(store)}`);
  else c.store = store;
  if (typeof get("dataDir") !== "string" || (get("dataDir") as string).length === 0) errors.push("dataDir: must be a non-empty path");
  else c.dataDir = get("dataDir") as string;
  c.crdtPort = int(get("crdtPort"), "crdtPort", 0, 65535, errors) ?? 0;
  c.crdtSyncIntervalMs = int(get("crdtSyncIntervalMs"), "crdtSyncIntervalMs", 10, 60_000, errors) ?? c.crdtSyncIntervalMs;
  const rp = get("raftPeers");
  if (typeof rp === "string") {
    for (const item of rp.split(",").map((s) => s.trim()).filter(Boolean)) {
      const m = /^([A-Za-z0-9_.-]{1,64})=(.+)$/.exec(item);
      if (m === null || splitHostPort(m[2]!) === undefined) errors.push(`raftPeers: "${item}" is not id=host:port`);
      else c.raftPeers[m[1]!] = m[2]!;
    }
  } else if (typeof rp === "object" && rp !== null && !Array.isArray(rp)) {
    for (const [k, v] of Object.entries(rp)) {
      if (!MEMBER_ID_PATTERN.test(k)) errors.push(`raftPeers.${k}: not a valid member id`);
      else if (hostPort(v, `raftPeers.${k}`, errors) !== undefined) c.raftPeers[k] = v as string;
    }
  } else errors.push("raftPeers: must be an object {id: host:port} or a string id=host:port,...");
  c.raftGrpc = hostPort(get("raftGrpc"), "raftGrpc", errors) ?? c.raftGrpc;
  const endpoint = (item: unknown, f: string) => {
    if (typeof item !== "string" || splitHostPort(item.replace(/^https?:\/\//, "").replace(/\/$/, "")) === undefined) {
      errors.push(`${f}: must be host:port or http://host:port, got ${JSON.stringify(item)}`);
      return undefined;
    }
    return item;
  };
  c.raftEndpoints = list(get("raftEndpoints"), "raftEndpoints", errors, endpoint) ?? [];
  c.etcdEndpoints = list(get("etcdEndpoints"), "etcdEndpoints", errors, endpoint) ?? [];
  const prefix = get("prefix");
  if (typeof prefix !== "string" || !/^[A-Za-z0-9_./-]{1,64}$/.test(prefix)) errors.push("prefix: must be 1-64 characters of A-Z a-z 0-9 _ . / -");
  else c.prefix = prefix;
  for (const k of ["token", "gossipKey"] as const) {
    const v = get(k);
    if (typeof v !== "string") errors.push(`${k}: must be a string`);
    else c[k] = v;
  }
  if (c.token !== "" && c.token.length < 16) errors.push("token: must be at least 16 characters (or empty on loopback)");
  if (c.gossipKey !== "" && !/^[A-Za-z0-9+/]{43}=$/.test(c.gossipKey)) errors.push("gossipKey: must be 32 bytes in base64 (44 characters; `heck-swim keygen` makes one)");
  c.replicas = int(get("replicas"), "replicas", 1, 16, errors) ?? 1;
  c.intervalMs = int(get("intervalMs"), "intervalMs", 10, 3_600_000, errors) ?? c.intervalMs;
  c.timeoutMs = int(get("timeoutMs"), "timeoutMs", 1, 600_000, errors) ?? c.timeoutMs;
  c.rise = int(get("rise"), "rise", 1, 100, errors) ?? c.rise;
  c.fall = int(get("fall"), "fall", 1, 100, errors) ?? c.fall;
  c.refreshMs = int(get("refreshMs"), "refreshMs", 0, 86_400_000, errors) ?? 0;
  c.handoffGraceMs = int(get("handoffGraceMs"), "handoffGraceMs", 0, 600_000, errors) ?? 0;
  c.promoteAfterMs = int(get("promoteAfterMs"), "promoteAfterMs", -1, 86_400_000, errors) ?? -1;
  const preset = get("swimPreset");
  if (preset !== "lan" && preset !== "wan" && preset !== "local") errors.push("swimPreset: must be lan, wan or local");
  else c.swimPreset = preset;
  const swim = get("swim");
  if (typeof swim !== "object" || swim === null || Array.isArray(swim) || !Object.values(swim).every((v) => typeof v === "number" || typeof v === "boolean")) {
    errors.push("swim: must be an object of SWIM config fields (numbers or booleans)");
  } else c.swim = swim as Record<string, number | boolean>;
  c.maxConcurrentChecks = int(get("maxConcurrentChecks"), "maxConcurrentChecks", 1, 100_000, errors) ?? c.maxConcurrentChecks;
  const origins = get("origins");
  if (!Array.isArray(origins) || !origins.every((o) => typeof o === "object" && o !== null && !Array.isArray(o))) errors.push("origins: must be a list of origin objects");
  else c.origins = origins as Record<string, unknown>[];

  // Derived defaults (documented on the fields).
  if (c.refreshMs === 0) c.refreshMs = 5 * c.intervalMs;
  if (c.handoffGraceMs === 0) c.handoffGraceMs = 2 * c.intervalMs + 1000;
  if (c.promoteAfterMs === -1) c.promoteAfterMs = c.replicas > 1 ? 3 * c.refreshMs : 0;
  if (c.promoteAfterMs > 0 && c.promoteAfterMs <= c.refreshMs) errors.push("promoteAfterMs: must exceed refreshMs (or be 0)");

  // Store-specific requirements.
  if (c.store === "etcd" && c.etcdEndpoints.length === 0) errors.push("etcdEndpoints: --store etcd needs --etcd-endpoints host:port,...");
  if (c.store === "raft" && c.raftPeers[c.id] === undefined && c.raftEndpoints.length === 0) {
    errors.push("raftPeers: --store raft needs this agent in --raft-peers (embedded member) or --raft-endpoints (client of a raft-kv cluster)");
  }

  // Security: off only on loopback (refuse to start otherwise).
  const api = splitHostPort(c.api);
  if (api !== undefined && !isLoopbackHost(api.host) && c.token === "") errors.push(`token: the API binds ${api.host}, which is not loopback: set --token (bearer auth may be off only on loopback)`);
  const bind = splitHostPort(c.bind);
  if (bind !== undefined && !isLoopbackHost(bind.host) && c.gossipKey === "") {
    errors.push(`gossipKey: gossip binds ${bind.host}, which is not loopback: set --gossip-key (encryption may be off only on loopback)`);
  }

  if (errors.length > 0) {
    const first = errors[0]!;
    return { ok: false, field: first.slice(0, first.indexOf(":")), message: errors.join("\n") };
  }
  return { ok: true, value: c };
}
