/**
 * The one place that knows the concrete stores: builds the store an agent's
 * config asks for, so the agent itself depends on the {@link HeckStore}
 * interface alone.
 *
 *   --store crdt   an embedded crdt-kv replica, gossiping to the peers SWIM says are alive
 *   --store raft   an embedded raft-kv member (this agent is in --raft-peers),
 *                  or raft-kv's etcd gRPC API as a client (--raft-endpoints)
 *   --store etcd   a real etcd through the etcd3 client
 */
import type { AgentConfig } from "../../core/config.ts";
import { splitHostPort } from "../../core/config.ts";
import { CrdtStore } from "./crdt-store.ts";
import { EtcdKv, parseEndpoints } from "./etcd-kv.ts";
import { KvBackedStore } from "./kv-store.ts";
import { EmbeddedRaftKv } from "./raft-kv.ts";
import type { OpenedStore } from "./store.ts";

/** What the factory needs from the agent beyond its config. */
export interface StoreDeps {
  /** Gossip addresses of the other alive agents' crdt replicas (from SWIM metadata), asked every round. */
  crdtPeers: () => readonly string[];
  /** Log sink (the agent prefixes its id). */
  log: (line: string) => void;
}

/**
 * Opens the store `config.store` names, with its data under
 * `config.dataDir` (crdt/ or raft/). Resolves once it can be advertised:
 * the crdt replica is listening, the raft member is started (it serves once
 * a quorum exists), an etcd client is configured. Nothing is delivered to
 * the agent before its `start()`.
 */
export async function openStore(c: AgentConfig, deps: StoreDeps): Promise<OpenedStore> {
  // One key for every peer protocol: SWIM, crdt gossip, raft peers.
  const keys = c.gossipKey !== "" ? { keys: [c.gossipKey] } : {};
  if (c.store === "crdt") {
    const crdt = new CrdtStore({
      id: c.id,
      dataDir: `${c.dataDir}/crdt`,
      host: splitHostPort(c.bind)!.host,
      port: c.crdtPort,
      prefix: c.prefix,
      syncIntervalMs: c.crdtSyncIntervalMs,
      peers: deps.crdtPeers,
      ...keys,
      log: deps.log,
    });
    await crdt.open();
    const faults = crdt.faults;
    return {
      store: crdt,
      advertise: { crdt: crdt.address },
      peerFaults: {
        block: (p) => faults.block([...p.addrs]),
        unblock: (p) => (p === undefined ? faults.unblock() : faults.unblock([...p.addrs])),
        setDropRate: (rate) => faults.setDropRate(rate),
      },
    };
  }
  if (c.store === "raft" && c.raftPeers[c.id] !== undefined) {
    const raft = await EmbeddedRaftKv.start({ id: c.id, peers: c.raftPeers, dataDir: `${c.dataDir}/raft`, grpc: c.raftGrpc, ...keys, log: (l) => deps.log(`raft: ${l}`) });
    const node = raft.server.node;
    // Only the raft members are peers of this member; other ids mean nothing to it.
    const members = (p: { ids: readonly string[] }) => p.ids.filter((id) => c.raftPeers[id] !== undefined);
    return {
      store: new KvBackedStore(raft, { kind: "raft", prefix: c.prefix, log: deps.log }),
      advertise: raft.grpcAddress !== null ? { grpc: raft.grpcAddress } : {},
      peerFaults: {
        block: (p) => node.block(members(p)),
        unblock: (p) => (p === undefined ? node.unblock() : node.unblock(members(p))),
      },
    };
  }
  if (c.store === "raft") {
    const kv = new EtcdKv({ endpoints: parseEndpoints(c.raftEndpoints.join(","), "raftEndpoints"), label: "raft-kv" });
    return { store: new KvBackedStore(kv, { kind: "raft", prefix: c.prefix, log: deps.log }), advertise: {} };
  }
  const etcd = new EtcdKv({ endpoints: parseEndpoints(c.etcdEndpoints.join(","), "etcdEndpoints") });
  return { store: new KvBackedStore(etcd, { kind: "etcd", prefix: c.prefix, log: deps.log }), advertise: {} };
}
