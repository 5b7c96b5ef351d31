/**
 * @packageDocumentation
 * `@heck/crdt-kv`: Stage 5: a key-value store every node can write without
 * asking anyone, converging whatever the network does to its messages.
 *
 * - Causality (src/core/causality): version vectors, dotted version vectors,
 *   causal contexts (compact vector + dot cloud).
 * - Delta-state CRDTs (src/core/crdt): GCounter, PNCounter, GSet, LWW
 *   register, LWW-element-set, AWOR set, MV register, GMap, OR-map, each a
 *   {@link Lattice} with a join decomposition.
 * - Synchronisation (src/core/sync): delta-intervals with acknowledgements
 *   (Almeida et al. Algorithm 2) with BP and RR (Enes et al., ICDE 2019).
 * - The store (src/core/store): the replica state machine with digest
 *   exchange and persistence; src/io runs it on real sockets and disks.
 *
 * Embedding (what apps/v2 does):
 * ```ts
 * import { startCrdtNode } from "@heck/crdt-kv";
 * const node = await startCrdtNode({ id: "agent-1", dataDir, port: 0, peers: () => membership() });
 * node.put("health/web-1", record, { ts: record.checkedAtMs }); // newest check time wins
 * node.subscribe((e) => render(e.key, e.result));
 * ```
 */

// Embedding: start a replica in-process.
export { startCrdtNode, type CrdtNode, type CrdtNodeOptions, type PutOptions } from "./io/embed.ts";
export { KvDriver, type DriverOptions } from "./io/driver.ts";
export { serveHttp, readJson, type HttpOptions } from "./io/http.ts";

// The replica as a pure state machine (for simulations and custom drivers).
export {
  KvNode,
  DEFAULT_NODE_CONFIG,
  contextToken,
  parseContextToken,
  digestBits,
  type KvNodeConfig,
  type WriteOptions,
  type BatchWrite,
  type WriteResult,
  type ChangeEvent,
  type PeerStatus,
  type NodeStats,
  type KvReady,
} from "./core/store/node.ts";
export { receiveWire } from "./core/store/wire-input.ts";
export { crdtSweep, SWEEP_SYNC_MS, SWEEP_ROUNDS_TO_CONVERGE, type CrdtSweep } from "./sim/sweep-scenario.ts";
export { Reference, kvFactory, convergedTo, noInventedDots, randomWorkload, type KvSim } from "./sim/cluster.ts";
export { KvState, resolve, encodeDelta, decodeDelta, joinDeltas, type KvDelta, type ReadResult, type EncodedDelta } from "./core/store/kv-state.ts";
export { compareVersions, type Mode, type Version } from "./core/store/version.ts";
export { encodeMessage, decodeMessage, wireOf, kvCodec, type KvMessage } from "./core/store/messages.ts";
export { convergenceRounds, convergenceBoundMs, type ConvergenceInputs } from "./core/store/convergence.ts";
export { diskFromWal, parseWal, walLine, walText, crc32, type KvDisk } from "./core/store/persistence.ts";

// Synchronisation algorithms, generic over any lattice.
export { DeltaSync, LatticeReplica, SYNC_ALGORITHMS, isSyncAlgorithm, type SyncAlgorithm, type SyncReplica, type Plan, type LogEntry } from "./core/sync/delta-sync.ts";

// Causality.
export { CausalContext } from "./core/causality/causal-context.ts";
export { IntervalSet } from "./core/causality/interval-set.ts";
export { dotKey, parseDotKey, isValidNodeId, type Dot } from "./core/causality/dot.ts";
export { vvJoin, vvLeq, vvCompare, vvCovers, vvIncrement, type VersionVector, type Ordering } from "./core/causality/version-vector.ts";
export { dvvCovers, dvvObsoletes, dvvConcurrent, dvvJoinAll, dvvDescendedBy, type Dvv } from "./core/causality/dvv.ts";

// CRDTs.
export { naiveDelta, type Lattice } from "./core/crdt/lattice.ts";
export { GCounter, type GCounterState } from "./core/crdt/gcounter.ts";
export { PNCounter, type PNCounterState } from "./core/crdt/pncounter.ts";
export { GSet, type GSetState } from "./core/crdt/gset.ts";
export { LwwRegister, compareLww, type LwwState, type LwwWrite } from "./core/crdt/lww-register.ts";
export { LwwSet, type LwwSetState } from "./core/crdt/lww-set.ts";
export { gmapLattice, type GMapState } from "./core/crdt/gmap.ts";
export { AworSet, type AworSetState } from "./core/crdt/awor-set.ts";
export { MvRegister, type MvRegisterState } from "./core/crdt/mv-register.ts";
export { orMapLattice } from "./core/crdt/or-map.ts";
export { VvRegister, type VvRegisterState } from "./core/crdt/vv-register.ts";
export { causalLattice, DotSetKind, dotFunKind, dotMapKind, type Causal, type DotStoreKind } from "./core/crdt/dot-store.ts";
export type { Json } from "./core/json.ts";
