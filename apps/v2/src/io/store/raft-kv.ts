/**
 * `--store raft`: the agent embeds a raft-kv member (when its id is one of
 * `--raft-peers`) and reads, writes and watches through the in-process
 * client; agents that are not raft members reach the members' etcd gRPC API
 * (see etcd-kv.ts), as Consul clients reach Consul servers. Every write goes
 * through the Raft leader and a quorum (Raft §5.3), so a minority side of a
 * partition cannot write; it keeps answering reads from what it has.
 */
import { startServer, type RaftKvServer } from "@heck/raft-kv";
import type { CasItem, RevEntry, RevEvent, RevKv } from "./kv-store.ts";
import type { RaftView } from "./store.ts";

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const str = (b: Uint8Array): string => decoder.decode(b);

/** Parses `id=host:port,...` (raft peer addresses); throws a TypeError naming the flag. */
export function parseRaftPeers(list: string, flag = "--raft-peers"): Record<string, string> {
  const peers: Record<string, string> = {};
  for (const item of list.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const m = /^([A-Za-z0-9_.-]{1,64})=([^\s:=]+):(\d{1,5})$/.exec(item);
    if (m === null || Number(m[3]) > 65535) throw new TypeError(`${flag}: "${item}" is not id=host:port`);
    if (peers[m[1]!] !== undefined) throw new TypeError(`${flag}: "${m[1]}" appears twice`);
    peers[m[1]!] = `${m[2]}:${m[3]}`;
  }
  if (Object.keys(peers).length === 0) throw new TypeError(`${flag}: needs at least one id=host:port`);
  return peers;
}

/** Options of {@link EmbeddedRaftKv.start}. */
export interface EmbeddedRaftOptions {
  id: string;
  peers: Record<string, string>;
  dataDir: string;
  /** etcd gRPC API of this member, for agents that are not members ("host:port", port 0 = any). */
  grpc: string;
  /**
   * Base64 AES-256 keys for the peer traffic between members (votes, appends,
   * snapshots), primary first: the agent's gossip key. The etcd gRPC API for
   * non-member agents stays plaintext (raft-kv has no TLS yet).
   */
  keys?: readonly string[];
  log?: (line: string) => void;
}

/** A {@link RevKv} on an in-process raft-kv member. */
export class EmbeddedRaftKv implements RevKv {
  private constructor(readonly server: RaftKvServer) {}

  /** Starts the member (joining or founding the cluster from `peers`). */
  static async start(options: EmbeddedRaftOptions): Promise<EmbeddedRaftKv> {
    const server = await startServer({
      id: options.id,
      peers: options.peers,
      dataDir: options.dataDir,
      grpc: options.grpc,
      http: null,
      ...(options.keys !== undefined && options.keys.length > 0 ? { keys: options.keys } : {}),
      log: options.log ?? (() => undefined),
    });
    return new EmbeddedRaftKv(server);
  }

  /** The member's etcd gRPC address, to advertise to non-member agents. */
  get grpcAddress(): string | null {
    return this.server.grpcAddress;
  }

  describe(): string {
    const e = this.server.encryption;
    const peers = e.enabled ? `peers encrypted, key ${e.keys[0]}${e.decryptFailures > 0 ? `, ${e.decryptFailures} undecryptable frames` : ""}` : "peers plaintext";
    return `raft-kv member ${this.server.id} (embedded, gRPC ${this.server.grpcAddress ?? "off"}, ${peers})`;
  }

  raftView(): RaftView {
    const node = this.server.node;
    return { leader: node.leader, term: node.header().raftTerm, voters: node.members().filter((m) => !m.learner).map((m) => m.id) };
  }

  malformedPeerFrames(): number {
    return this.server.malformed().peer;
  }

  async list(prefix: string): Promise<{ entries: RevEntry[]; revision: number }> {
    const r = await this.server.kv.range(prefix);
    return { entries: r.kvs.map((kv) => ({ key: str(kv.key), value: str(kv.value), modRevision: kv.modRevision })), revision: r.revision };
  }

  async put(key: string, value: string): Promise<void> {
    await this.server.kv.put(key, value);
  }

  async putMany(entries: readonly { key: string; value: string }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.server.kv.txn({ compare: [], success: entries.map((e) => ({ type: "put" as const, key: encoder.encode(e.key), value: encoder.encode(e.value) })), failure: [] });
  }

  async cas(key: string, value: string, expectedModRevision: number): Promise<{ ok: true; modRevision: number } | { ok: false; current: RevEntry | undefined }> {
    // modRevision 0 is "absent"; raft-kv expresses that as version 0, as etcd does.
    const r = await this.server.kv.cas(key, expectedModRevision === 0 ? { version: 0 } : { modRevision: expectedModRevision }, value);
    if (r.succeeded) return { ok: true, modRevision: r.revision };
    return { ok: false, current: r.current ? { key, value: str(r.current.value), modRevision: r.current.modRevision } : undefined };
  }

  async casMany(items: readonly CasItem[]): Promise<{ ok: true; modRevision: number } | { ok: false; current: (RevEntry | undefined)[] }> {
    // One Txn through the embedded client, so it carries the client session and a retry applies it once (§6.3).
    // Absent keys compare as version 0 (modRevision 0 is "absent" in etcd too).
    const keys = items.map((it) => encoder.encode(it.key));
    const r = await this.server.kv.txn({
      compare: items.map((it, i) =>
        it.expectedModRevision === 0 ? { key: keys[i]!, target: "version" as const, result: "equal" as const, value: 0 } : { key: keys[i]!, target: "mod" as const, result: "equal" as const, value: it.expectedModRevision },
      ),
      success: items.map((it, i) => ({ type: "put" as const, key: keys[i]!, value: encoder.encode(it.value) })),
      failure: keys.map((key) => ({ type: "range" as const, key })),
    });
    if (r.response.type !== "txn") throw new Error("raft-kv: unexpected response to a txn");
    if (r.response.succeeded) return { ok: true, modRevision: r.revision };
    const responses = r.response.responses;
    return {
      ok: false,
      current: items.map((it, i) => {
        const res = responses[i];
        const kv = res?.type === "range" ? res.kvs[0] : undefined;
        return kv ? { key: it.key, value: str(kv.value), modRevision: kv.modRevision } : undefined;
      }),
    };
  }

  async delete(key: string): Promise<boolean> {
    return (await this.server.kv.delete(key)) > 0;
  }

  async watch(prefix: string, afterRevision: number, onEvents: (events: RevEvent[]) => void, onError: (error: Error) => void): Promise<() => void> {
    return this.server.kv.watch(
      prefix,
      { prefix: true, fromRevision: afterRevision + 1 },
      (events) => onEvents(events.map((e) => ({ type: e.type, key: str(e.kv.key), value: str(e.kv.value), modRevision: e.kv.modRevision }))),
      (reason) => onError(new Error(`watch cancelled: ${reason}`)),
    );
  }

  async close(): Promise<void> {
    await this.server.stop();
  }
}
