/**
 * A small client for an external raft-kv cluster over its JSON HTTP API.
 *
 * It fails over between endpoints (a dead node, "no leader", a timeout) and
 * numbers its writes in a client session (Raft dissertation §6.3), so a write
 * retried after a timeout is applied once even if the first attempt did
 * commit. Reads are linearizable unless asked otherwise. It speaks HTTPS
 * when given the cluster's CA (and a client certificate where the servers
 * demand one), and authenticates as a user when given credentials.
 */
import { hostPortOf } from "@heck/sim/http";
import { TlsFetch } from "./tls-fetch.ts";
import { ClientSession } from "./client-session.ts";

/** A key-value pair as the HTTP API returns it. */
export interface HttpKeyValue {
  key: string;
  value: string;
  encoding?: "base64";
  createRevision: number;
  modRevision: number;
  version: number;
}

/** A watch event as the HTTP API streams it. */
export interface HttpWatchEvent {
  type: "put" | "delete";
  key: string;
  value?: string;
  encoding?: "base64";
  createRevision: number;
  modRevision: number;
  version: number;
  prevKv?: HttpKeyValue;
}

/** An error answer from the server (or the client giving up). */
export class RaftKvHttpError extends Error {
  override readonly name = "RaftKvHttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown = undefined,
  ) {
    super(message);
  }
}

/** Options of {@link RaftKvHttpClient}. */
export interface HttpClientOptions {
  /** host:port of one or more members' HTTP APIs. */
  endpoints: string[];
  /** Give up a call after this long (all retries included). Default 10,000 ms: above an election plus a request timeout. */
  timeoutMs?: number;
  /** Number writes in a session so retries apply once. Default true. */
  sessions?: boolean;
  /** HTTPS: the CA that signed the servers' certificates, and this client's certificate and key (PEM) where the servers ask for one. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer };
  /** With auth on: authenticate as this user; a token is fetched on first use and again when a server no longer knows it. */
  credentials?: { user: string; password: string };
}

/** A lease as the HTTP API describes it (`ttl` -1: there is no such lease). */
export interface HttpLease {
  id: number;
  ttl: number;
  grantedTtl: number;
  keys: string[];
}

/** What a campaigner holds once elected: pass it back to proclaim or resign. */
export interface HttpLeaderKey {
  name: string;
  key: string;
  rev: number;
  lease: number;
}

const RETRY_STATUSES = new Set([421, 429, 502, 503, 504]);

/** True when the connection was refused or reset before the request could have been read. */
function refused(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause;
  return cause?.code === "ECONNREFUSED" || cause?.code === "EHOSTUNREACH" || cause?.code === "ENOTFOUND";
}

/** Client of a raft-kv cluster's HTTP API, with failover and exactly-once retries. */
export class RaftKvHttpClient {
  private readonly endpoints: string[];
  private current = 0;
  private readonly timeoutMs: number;
  private readonly useSessions: boolean;
  private readonly tls: TlsFetch | undefined;
  private readonly credentials: { user: string; password: string } | undefined;
  private token: Promise<string> | undefined;
  // Registering twice after an ambiguous failure only leaves an unused session behind, so it may be retried.
  private readonly session = new ClientSession(
    () => (this.request("POST", "/v1/sessions", {}, true) as Promise<{ clientId: number }>).then((r) => r.clientId),
    (error) => error instanceof RaftKvHttpError && error.code === "session_expired",
  );

  constructor(options: HttpClientOptions) {
    if (options.endpoints.length === 0) throw new TypeError("endpoints: give at least one host:port");
    // host:port (the form every --json line prints), or http://host:port as older lines and other tools give it.
    const endpoints = options.endpoints.map((e) => hostPortOf(e) ?? e);
    for (const e of endpoints) if (!/^[^\s/:]+:\d{1,5}$/.test(e)) throw new TypeError(`endpoints: ${JSON.stringify(e)} is not host:port`);
    this.endpoints = endpoints;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.useSessions = options.sessions ?? true;
    this.tls = options.tls ? new TlsFetch(options.tls) : undefined;
    this.credentials = options.credentials;
  }

  /** Closes pooled connections (an HTTPS client keeps them open). */
  async close(): Promise<void> {
    await this.tls?.close();
  }

  /** Sets a key attached to lease `lease` (deleted with the lease); resolves with the new revision. */
  async putWithLease(key: string, value: string, lease: number): Promise<number> {
    const r = (await this.write("PUT", `/v1/kv/${encodeURIComponent(key)}`, { value, lease })) as { revision: number };
    return r.revision;
  }

  /** Grants a lease of `ttl` seconds (the server may raise it to its minimum). */
  async leaseGrant(ttl: number, id = 0): Promise<{ id: number; ttl: number; revision: number }> {
    return (await this.request("POST", "/v1/leases", { ttl, id }, false)) as { id: number; ttl: number; revision: number };
  }

  /** Revokes a lease: it and its keys are gone. */
  async leaseRevoke(id: number): Promise<number> {
    return ((await this.request("DELETE", `/v1/leases/${id}`, undefined, false)) as { revision: number }).revision;
  }

  /** Renews a lease; resolves with its TTL, or 0 once it no longer exists. */
  async leaseKeepAlive(id: number): Promise<number> {
    try {
      return ((await this.request("POST", `/v1/leases/${id}/keepalive`, undefined, true)) as { ttl: number }).ttl;
    } catch (error) {
      if (error instanceof RaftKvHttpError && error.code === "lease_not_found") return 0;
      throw error;
    }
  }

  /** The leader's view of a lease: seconds left (-1: none), granted TTL, keys. */
  async leaseTimeToLive(id: number, keys = false): Promise<HttpLease> {
    return (await this.request("GET", `/v1/leases/${id}${keys ? "?keys=true" : ""}`, undefined, true)) as HttpLease;
  }

  /** Every lease id. */
  async leases(): Promise<number[]> {
    return ((await this.request("GET", "/v1/leases", undefined, true)) as { leases: Array<{ id: number }> }).leases.map((l) => l.id);
  }

  /** Waits until this client holds lock `name` through `lease`; resolves with the lock key (the proof) and its create revision. */
  async lock(name: string, lease: number, signal?: AbortSignal): Promise<{ key: string; revision: number; createRevision: number }> {
    return (await this.once(this.endpoints[this.current]!, "POST", `/v1/locks/${encodeURIComponent(name)}`, { lease }, await this.authHeaders(), 24 * 3600 * 1000, signal)) as { key: string; revision: number; createRevision: number };
  }

  /** Releases a lock by deleting its key. */
  async unlock(key: string): Promise<number> {
    return ((await this.request("POST", "/v1/unlock", { key }, false)) as { revision: number }).revision;
  }

  /** Waits until this client leads election `name` with `value`; resolves with the leader key. */
  async campaign(name: string, lease: number, value: string, signal?: AbortSignal): Promise<HttpLeaderKey> {
    const r = (await this.once(this.endpoints[this.current]!, "POST", `/v1/elections/${encodeURIComponent(name)}/campaign`, { lease, value }, await this.authHeaders(), 24 * 3600 * 1000, signal)) as { leader: HttpLeaderKey };
    return r.leader;
  }

  /** The leader of election `name`: its key and value. */
  async electionLeader(name: string): Promise<HttpKeyValue & { lease: number }> {
    return (await this.request("GET", `/v1/elections/${encodeURIComponent(name)}`, undefined, true)) as HttpKeyValue & { lease: number };
  }

  /** Gives up leadership of an election. */
  async resign(leader: HttpLeaderKey): Promise<void> {
    await this.request("POST", `/v1/elections/${encodeURIComponent(leader.name)}/resign`, { leader }, false);
  }

  /** Streams the leader of election `name` now and on every change; returns a function that stops. */
  observe(name: string, onLeader: (kv: HttpKeyValue & { lease: number; revision: number }) => void, onEnd: (reason: string) => void = () => {}): () => void {
    return this.stream(`/v1/elections/${encodeURIComponent(name)}/observe`, (msg) => {
      if (msg.canceled) {
        onEnd(String(msg.reason ?? "canceled"));
        return false;
      }
      onLeader(msg as unknown as HttpKeyValue & { lease: number; revision: number });
      return true;
    }, onEnd);
  }

  /** Sets a key; resolves with the new revision. */
  async put(key: string, value: string): Promise<number> {
    const r = (await this.write("PUT", `/v1/kv/${encodeURIComponent(key)}`, { value })) as { revision: number };
    return r.revision;
  }

  /** Compare-and-set: writes only if the key matches; `version: 0` means "must not exist". */
  async cas(key: string, expected: { value?: string; version?: number; modRevision?: number; createRevision?: number }, value: string): Promise<{ succeeded: boolean; revision: number; current: HttpKeyValue | null }> {
    const body: Record<string, unknown> = { value };
    if (expected.value !== undefined) body.ifValue = expected.value;
    if (expected.version !== undefined) body.ifVersion = expected.version;
    if (expected.modRevision !== undefined) body.ifModRevision = expected.modRevision;
    if (expected.createRevision !== undefined) body.ifCreateRevision = expected.createRevision;
    try {
      const r = (await this.write("PUT", `/v1/kv/${encodeURIComponent(key)}`, body)) as { revision: number };
      return { succeeded: true, revision: r.revision, current: null };
    } catch (error) {
      if (error instanceof RaftKvHttpError && error.code === "compare_failed") {
        const b = error.body as { revision: number; current: HttpKeyValue | null };
        return { succeeded: false, revision: b.revision, current: b.current };
      }
      throw error;
    }
  }

  /** The pair at `key`, or null. */
  async get(key: string, options: { serializable?: boolean } = {}): Promise<(HttpKeyValue & { revision: number }) | null> {
    try {
      return (await this.request("GET", `/v1/kv/${encodeURIComponent(key)}${options.serializable ? "?consistency=serializable" : ""}`, undefined, true)) as HttpKeyValue & { revision: number };
    } catch (error) {
      if (error instanceof RaftKvHttpError && error.status === 404) return null;
      throw error;
    }
  }

  /** Pairs under a prefix ("" = all), in key order. */
  async range(prefix: string, options: { serializable?: boolean; limit?: number; keysOnly?: boolean } = {}): Promise<{ kvs: HttpKeyValue[]; count: number; more: boolean; revision: number }> {
    const q = new URLSearchParams({ prefix });
    if (options.serializable) q.set("consistency", "serializable");
    if (options.limit) q.set("limit", String(options.limit));
    if (options.keysOnly) q.set("keysOnly", "true");
    return (await this.request("GET", `/v1/kv?${q}`, undefined, true)) as { kvs: HttpKeyValue[]; count: number; more: boolean; revision: number };
  }

  /** Deletes a key (or a prefix); resolves with the number deleted. */
  async delete(key: string, options: { prefix?: boolean } = {}): Promise<number> {
    const r = (await this.write("DELETE", `/v1/kv/${encodeURIComponent(key)}${options.prefix ? "?prefix=true" : ""}`, undefined)) as { deleted: number };
    return r.deleted;
  }

  /** An etcd-style transaction (see the HTTP API's /v1/txn). */
  async txn(body: { compare?: unknown[]; success?: unknown[]; failure?: unknown[] }): Promise<{ succeeded: boolean; responses: unknown[]; revision: number }> {
    return (await this.write("POST", "/v1/txn", body)) as { succeeded: boolean; responses: unknown[]; revision: number };
  }

  /** Status of one endpoint (default: the current one). */
  async status(endpoint?: string): Promise<Record<string, unknown>> {
    if (endpoint) return (await this.once(endpoint, "GET", "/v1/status", undefined, {})) as Record<string, unknown>;
    return (await this.request("GET", "/v1/status", undefined, true)) as Record<string, unknown>;
  }

  /** Members of the cluster. */
  async members(): Promise<Array<Record<string, unknown>>> {
    return ((await this.request("GET", "/v1/members", undefined, true)) as { members: Array<Record<string, unknown>> }).members;
  }

  /** Adds a member (as a learner that is promoted once caught up, unless `learner`). */
  async addMember(id: string, peerAddress: string, learner = false): Promise<Array<Record<string, unknown>>> {
    return ((await this.request("POST", "/v1/members", { id, peerAddress, learner }, false)) as { members: Array<Record<string, unknown>> }).members;
  }

  /** Removes a member. */
  async removeMember(id: string): Promise<Array<Record<string, unknown>>> {
    return ((await this.request("DELETE", `/v1/members/${encodeURIComponent(id)}`, undefined, false)) as { members: Array<Record<string, unknown>> }).members;
  }

  /** Moves leadership to `to` (§3.10). */
  async transferLeadership(to: string): Promise<void> {
    await this.request("POST", "/v1/leader", { to }, false);
  }

  /** Sets partitions / drop rate on one node (experiments and the nemesis). */
  async faults(endpoint: string, body: { block?: string[]; unblock?: string[] | "all"; dropRate?: number }): Promise<{ blocked: string[]; dropRate: number }> {
    return (await this.once(endpoint, "POST", "/v1/faults", body, {})) as { blocked: string[]; dropRate: number };
  }

  /**
   * Streams events for a key (or prefix) from `fromRevision`; returns a
   * function that stops the watch. `onEvents` gets each batch in revision order.
   */
  watch(target: { key: string } | { prefix: string }, options: { fromRevision?: number; prevKv?: boolean }, onEvents: (events: HttpWatchEvent[], revision: number) => void, onEnd: (reason: string) => void = () => {}): () => void {
    const q = new URLSearchParams("key" in target ? { key: target.key } : { prefix: target.prefix });
    if (options.fromRevision) q.set("fromRevision", String(options.fromRevision));
    if (options.prevKv) q.set("prevKv", "true");
    return this.stream(`/v1/watch?${q}`, (msg) => {
      if (msg.canceled) {
        onEnd(String(msg.reason ?? "canceled"));
        return false;
      }
      if (msg.events) onEvents(msg.events as HttpWatchEvent[], (msg.revision as number | undefined) ?? 0);
      return true;
    }, onEnd);
  }

  /** Reads a newline-delimited JSON stream, one message per line, until `onMessage` returns false or the stream ends. */
  private stream(path: string, onMessage: (msg: Record<string, unknown>) => boolean, onEnd: (reason: string) => void): () => void {
    const abort = new AbortController();
    const endpoint = this.endpoints[this.current]!;
    void (async () => {
      try {
        const res = await this.fetch(`${this.scheme}://${endpoint}${path}`, { headers: await this.authHeaders(), signal: abort.signal });
        if (!res.ok || !res.body) {
          onEnd(`HTTP ${res.status}: ${await res.text()}`);
          return;
        }
        let buf = "";
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buf += decoder.decode(chunk, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.trim()) continue;
            if (!onMessage(JSON.parse(line) as Record<string, unknown>)) return;
          }
        }
        onEnd("stream ended");
      } catch (error) {
        if (!abort.signal.aborted) onEnd(error instanceof Error ? error.message : String(error));
      }
    })();
    return () => abort.abort();
  }

  private get scheme(): string {
    return this.tls ? "https" : "http";
  }

  private fetch(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }): Promise<Response> {
    return this.tls ? this.tls.fetch(url, init) : fetch(url, init);
  }

  /** The Authorization header for the configured user (authenticating on first use). */
  private async authHeaders(): Promise<Record<string, string>> {
    if (!this.credentials) return {};
    const creds = this.credentials;
    this.token ??= (async () => {
      const r = (await this.once(this.endpoints[this.current]!, "POST", "/v1/auth/authenticate", { name: creds.user, password: creds.password }, {})) as { token: string };
      return r.token;
    })().catch((error: unknown) => {
      this.token = undefined;
      throw error;
    });
    return { authorization: await this.token };
  }

  // --- plumbing --------------------------------------------------------------------

  private async write(method: string, path: string, body: unknown): Promise<unknown> {
    if (!this.useSessions) return this.request(method, path, body, false);
    // Every retry carries the same (clientId, seq): the cluster applies it once (§6.3).
    return this.session.write((tag, attempts) =>
      this.request(
        method,
        path,
        body,
        true,
        () => {
          const t = tag();
          return { "x-heck-client-id": String(t.clientId), "x-heck-seq": String(t.seq), "x-heck-first-unacked": String(t.firstUnackedSeq) };
        },
        attempts,
      ),
    );
  }

  /**
   * Tries endpoints in turn until one answers (or the deadline passes). `retryAmbiguous`: safe to retry after
   * a timeout; `attempts.ambiguous` is set when an attempt ended that way (it may have been applied).
   */
  private async request(method: string, path: string, body: unknown, retryAmbiguous: boolean, headers: () => Record<string, string> = () => ({}), attempts: { ambiguous: boolean } = { ambiguous: false }): Promise<unknown> {
    const deadline = performance.now() + this.timeoutMs;
    let delay = 25;
    let lastError: unknown;
    for (;;) {
      const endpoint = this.endpoints[this.current]!;
      try {
        return await this.once(endpoint, method, path, body, { ...(await this.authHeaders()), ...headers() }, Math.max(100, deadline - performance.now()));
      } catch (error) {
        lastError = error;
        // A token this server does not know (idle too long, or auth was turned off and on): authenticate again.
        if (error instanceof RaftKvHttpError && error.code === "invalid_auth_token" && this.credentials) {
          this.token = undefined;
          if (performance.now() < deadline) continue;
        }
        // Safe to retry: the server refused before doing anything (no leader, busy) or nobody listened.
        const safe = error instanceof RaftKvHttpError ? RETRY_STATUSES.has(error.status) && error.status !== 504 : refused(error);
        // Ambiguous: a timeout or a broken connection; the write may or may not have happened.
        const ambiguous = error instanceof RaftKvHttpError ? error.status === 504 : !refused(error);
        if (ambiguous) attempts.ambiguous = true;
        if (!safe && !(ambiguous && retryAmbiguous)) throw error;
        this.current = (this.current + 1) % this.endpoints.length;
        if (performance.now() + delay > deadline) break;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 400);
      }
    }
    if (lastError instanceof RaftKvHttpError) throw lastError;
    throw new RaftKvHttpError(0, "unavailable", `no endpoint answered within ${this.timeoutMs} ms (${lastError instanceof Error ? lastError.message : String(lastError)})`);
  }

  private async once(endpoint: string, method: string, path: string, body: unknown, headers: Record<string, string>, timeoutMs = this.timeoutMs, signal?: AbortSignal): Promise<unknown> {
    const timeout = AbortSignal.timeout(Math.max(1, Math.ceil(timeoutMs)));
    const res = await this.fetch(`${this.scheme}://${endpoint}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const err = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new RaftKvHttpError(res.status, err?.code ?? "http_error", `${endpoint}: ${err?.message ?? `HTTP ${res.status}`}`, parsed);
    }
    return parsed;
  }
}
