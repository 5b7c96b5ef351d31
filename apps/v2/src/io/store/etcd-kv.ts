/**
 * {@link RevKv} over the etcd v3 gRPC API, through the `etcd3` npm client.
 * Used for `--store etcd` (a real etcd cluster) and for `--store raft` with
 * `--raft-endpoints` (raft-kv speaks the same subset of the API: Range, Put,
 * DeleteRange, Txn, Watch), so one adapter covers both.
 */
import { Etcd3, type IOptions, type Watcher } from "etcd3";
import type { CasItem, RevEntry, RevEvent, RevKv } from "./kv-store.ts";

/** Options of {@link EtcdKv}. */
export interface EtcdKvOptions {
  /** host:port or http://host:port, one per member. */
  endpoints: readonly string[];
  /** Per-request deadline (the client's default is none: a partitioned call would hang). 5 s is etcd's own request timeout. */
  requestTimeoutMs?: number;
  /** etcd user/password, when the cluster has auth enabled. */
  auth?: { username: string; password: string };
  /** Shown in the status line ("etcd" or "raft-kv"). */
  label?: string;
}

const text = (b: Buffer | Uint8Array | null | undefined): string => (b == null ? "" : Buffer.from(b).toString("utf8"));

/** Validates and normalizes endpoints ("host:port" or "http://host:port"); throws a TypeError naming the flag. */
export function parseEndpoints(list: string, flag: string): string[] {
  const items = list.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new TypeError(`${flag}: needs at least one host:port`);
  return items.map((e) => {
    const m = /^(?:https?:\/\/)?([^/\s:]+|\[[^\]]+\]):(\d{1,5})\/?$/.exec(e);
    if (m === null || Number(m[2]) > 65535) throw new TypeError(`${flag}: "${e}" is not host:port`);
    return e.startsWith("http") ? e.replace(/\/$/, "") : `http://${e}`;
  });
}

/** A {@link RevKv} backed by an etcd v3 endpoint list. */
export class EtcdKv implements RevKv {
  private readonly client: Etcd3;
  private readonly watchers = new Set<Watcher>();
  private readonly timeoutMs: number;

  constructor(private readonly options: EtcdKvOptions) {
    this.timeoutMs = options.requestTimeoutMs ?? 5_000;
    const opts: IOptions = {
      hosts: [...options.endpoints],
      dialTimeout: 3_000,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.timeoutMs }),
    };
    if (options.auth !== undefined) opts.auth = options.auth;
    this.client = new Etcd3(opts);
  }

  describe(): string {
    return `${this.options.label ?? "etcd"} ${this.options.endpoints.join(",")}`;
  }

  async list(prefix: string): Promise<{ entries: RevEntry[]; revision: number }> {
    const res = await this.client.getAll().prefix(prefix).exec();
    return {
      entries: res.kvs.map((kv) => ({ key: text(kv.key), value: text(kv.value), modRevision: Number(kv.mod_revision) })),
      revision: Number(res.header.revision),
    };
  }

  async put(key: string, value: string): Promise<void> {
    await this.client.put(key).value(value).exec();
  }

  async putMany(entries: readonly { key: string; value: string }[]): Promise<void> {
    if (entries.length === 0) return;
    // A Txn with no compare always takes its success branch.
    await this.client.kv.txn({ success: entries.map((e) => ({ request_put: { key: Buffer.from(e.key), value: Buffer.from(e.value) } })) });
  }

  async cas(key: string, value: string, expectedModRevision: number): Promise<{ ok: true; modRevision: number } | { ok: false; current: RevEntry | undefined }> {
    const res = await this.client
      .if(key, "Mod", "==", expectedModRevision)
      .then(this.client.put(key).value(value))
      .else(this.client.get(key))
      .commit();
    if (res.succeeded) return { ok: true, modRevision: Number(res.header.revision) };
    const kv = res.responses[0]?.response_range?.kvs?.[0];
    return { ok: false, current: kv ? { key, value: text(kv.value), modRevision: Number(kv.mod_revision) } : undefined };
  }

  async casMany(items: readonly CasItem[]): Promise<{ ok: true; modRevision: number } | { ok: false; current: (RevEntry | undefined)[] }> {
    if (items.length === 0) throw new RangeError("casMany: needs at least one item");
    let txn = this.client.if(items[0]!.key, "Mod", "==", items[0]!.expectedModRevision);
    for (let i = 1; i < items.length; i++) txn = txn.and(items[i]!.key, "Mod", "==", items[i]!.expectedModRevision);
    // Raw request ops: the client's put/get builders cost a promise and an object graph each.
    const keys = items.map((it) => Buffer.from(it.key));
    const res = await txn
      .then(...items.map((it, i) => ({ request_put: { key: keys[i]!, value: Buffer.from(it.value) } })))
      .else(...keys.map((key) => ({ request_range: { key } })))
      .commit();
    if (res.succeeded) return { ok: true, modRevision: Number(res.header.revision) };
    return {
      ok: false,
      current: items.map((it, i) => {
        const kv = res.responses[i]?.response_range?.kvs?.[0];
        return kv ? { key: it.key, value: text(kv.value), modRevision: Number(kv.mod_revision) } : undefined;
      }),
    };
  }

  async delete(key: string): Promise<boolean> {
    const res = await this.client.delete().key(key).exec();
    return Number(res.deleted) > 0;
  }

  async watch(prefix: string, afterRevision: number, onEvents: (events: RevEvent[]) => void, onError: (error: Error) => void): Promise<() => void> {
    const watcher = await this.client
      .watch()
      .prefix(prefix)
      .startRevision(String(afterRevision + 1))
      .create();
    this.watchers.add(watcher);
    // The client reconnects and resumes from the last revision it saw by
    // itself; a compacted revision or a hard failure surfaces as 'error'.
    watcher.on("data", (res) => {
      const events: RevEvent[] = [];
      for (const ev of res.events ?? []) {
        const kv = ev.kv;
        if (!kv) continue;
        events.push({ type: ev.type === "Delete" ? "delete" : "put", key: text(kv.key), value: text(kv.value), modRevision: Number(kv.mod_revision) });
      }
      if (events.length > 0) onEvents(events);
    });
    watcher.on("error", (e) => onError(e));
    return () => {
      this.watchers.delete(watcher);
      void watcher.cancel().catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.watchers].map((w) => w.cancel()));
    this.watchers.clear();
    this.client.close();
  }
}
