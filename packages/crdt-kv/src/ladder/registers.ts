/**
 * The causality ladder's registers: one replica of one key under each way of
 * telling "this write saw that one" from "these two were concurrent", from
 * Lamport clocks up to the dotted version vectors the store uses (Preguiça,
 * Baquero, Almeida, Fonte, Gonçalves, "Dotted Version Vectors", 2010, §2-§5).
 *
 * Every register has the same shape: a client reads (values and an opaque
 * context), writes a value with the context it holds (that of its last read,
 * or of its own last write, or none), and replicas exchange their whole
 * state and merge it. What differs is what the context can express.
 *
 * The top rung is not here: it is the store itself (`KvNode` in MV mode).
 * The plain-version-vector register is the store's own foil, `VvRegister`.
 */
import { vvCompare, vvJoin, type VersionVector } from "../core/causality/version-vector.ts";
import { VvRegister, type VvRegisterState } from "../core/crdt/vv-register.ts";

/** What a read returns: the values a client sees, and what it must send back to overwrite exactly them. */
export interface RegisterRead<C> {
  values: string[];
  context: C;
}

/** One replica of one key, as the ladder drives it. */
export interface Register<C, S> {
  read(): RegisterRead<C>;
  /** `client` writes `value` having seen `context` (undefined: it saw nothing). Returns the context of the new version. */
  write(value: string, client: string, context: C | undefined): C;
  /** The whole state, for anti-entropy. */
  state(): S;
  /** Joins a state received from another replica. */
  merge(remote: S): void;
  /** The metadata a client carries: bytes of the context, as JSON. */
  contextBytes(context: C): number;
}

// ---------------------------------------------------------------------------
// Rung 1: Lamport clocks (Lamport 1978), last writer wins
// ---------------------------------------------------------------------------

/** A Lamport timestamp, with the replica id breaking ties. */
export interface LamportStamp {
  counter: number;
  replica: string;
}

function laterStamp(a: LamportStamp, b: LamportStamp): boolean {
  return a.counter > b.counter || (a.counter === b.counter && a.replica > b.replica);
}

/**
 * Rung 1: one value, stamped with a Lamport clock; the larger stamp wins.
 * A Lamport clock orders every event consistently with causality (if a saw
 * b, a's stamp is larger), but not the other way round: two concurrent
 * writes also get different stamps, so one silently replaces the other.
 * The clock cannot say "concurrent", so the store cannot keep both.
 */
export class LamportRegister implements Register<LamportStamp, { value: string | undefined; stamp: LamportStamp }> {
  private value: string | undefined;
  private stamp: LamportStamp;
  private clock = 0;

  constructor(readonly replica: string) {
    this.stamp = { counter: 0, replica };
  }

  read(): RegisterRead<LamportStamp> {
    return { values: this.value === undefined ? [] : [this.value], context: this.stamp };
  }

  write(value: string, _client: string, context: LamportStamp | undefined): LamportStamp {
    this.clock = Math.max(this.clock, this.stamp.counter, context?.counter ?? 0) + 1;
    this.value = value;
    this.stamp = { counter: this.clock, replica: this.replica };
    return this.stamp;
  }

  state(): { value: string | undefined; stamp: LamportStamp } {
    return { value: this.value, stamp: this.stamp };
  }

  merge(remote: { value: string | undefined; stamp: LamportStamp }): void {
    this.clock = Math.max(this.clock, remote.stamp.counter);
    if (remote.value !== undefined && laterStamp(remote.stamp, this.stamp)) {
      this.value = remote.value;
      this.stamp = remote.stamp;
    }
  }

  contextBytes(context: LamportStamp): number {
    return JSON.stringify(context).length;
  }
}

// ---------------------------------------------------------------------------
// Shared by the vector rungs: siblings, each with the vector of what its writer had seen
// ---------------------------------------------------------------------------

interface Sibling {
  value: string;
  vv: VersionVector;
}

/** Keeps the siblings no other sibling's vector dominates, one copy per vector. */
function maximal(siblings: readonly Sibling[]): Sibling[] {
  const out: Sibling[] = [];
  for (const s of siblings) {
    if (siblings.some((t) => vvCompare(s.vv, t.vv) === "before")) continue;
    if (out.some((x) => vvCompare(x.vv, s.vv) === "equal")) continue;
    out.push(s);
  }
  return out;
}

function joinAll(siblings: readonly Sibling[]): VersionVector {
  let vv: VersionVector = new Map();
  for (const s of siblings) vv = vvJoin(vv, s.vv);
  return vv;
}

function vectorJson(vv: VersionVector): number {
  return JSON.stringify(Object.fromEntries([...vv].sort())).length;
}

// ---------------------------------------------------------------------------
// Rung 2: a version vector with an entry per client
// ---------------------------------------------------------------------------

/**
 * Rung 2: every write is stamped with a version vector that has one entry
 * per *client* (the client's own counter, plus everything it had read), and
 * a replica keeps every sibling no other dominates. This is exact: a write
 * that saw another supersedes it, concurrent writes are all kept. But the
 * vector names every client that ever wrote, and a store has millions of
 * clients: the context a client carries grows without bound.
 */
export class ClientVectorRegister implements Register<VersionVector, Sibling[]> {
  private siblings: Sibling[] = [];

  read(): RegisterRead<VersionVector> {
    return { values: this.siblings.map((s) => s.value), context: joinAll(this.siblings) };
  }

  write(value: string, client: string, context: VersionVector | undefined): VersionVector {
    const seen = context ?? new Map<string, number>();
    const vv = new Map(seen);
    vv.set(client, (seen.get(client) ?? 0) + 1);
    this.siblings = maximal([...this.siblings, { value, vv }]);
    return vv;
  }

  state(): Sibling[] {
    return this.siblings;
  }

  merge(remote: Sibling[]): void {
    this.siblings = maximal([...this.siblings, ...remote]);
  }

  contextBytes(context: VersionVector): number {
    return vectorJson(context);
  }
}

// ---------------------------------------------------------------------------
// Rung 3: one version vector per object, with an entry per replica
// ---------------------------------------------------------------------------

/**
 * Rung 3: the object carries one vector with an entry per *replica*
 * (Dynamo's and early Riak's vclocks), through the store's own foil,
 * {@link VvRegister}. Compact: two replicas, two entries, however many
 * clients. But the vector counts the new write into the same entry as the
 * writes it did not see, so a replica can only drop siblings when a write's
 * context covers the whole object vector. Two clients that each write with
 * the context of their own last write never cover it: every write adds a
 * sibling, the ones they superseded included (false concurrency, the
 * "sibling explosion" Riak hit; Preguiça et al. §3).
 */
export class ReplicaVectorRegister implements Register<VersionVector, VvRegisterState> {
  private s: VvRegisterState = VvRegister.empty();

  constructor(readonly replica: string) {}

  read(): RegisterRead<VersionVector> {
    return { values: [...new Set(this.s.siblings.map(String))], context: this.s.vv };
  }

  write(value: string, _client: string, context: VersionVector | undefined): VersionVector {
    this.s = VvRegister.write(this.s, value, context ?? new Map(), this.replica);
    return this.s.vv;
  }

  state(): VvRegisterState {
    return this.s;
  }

  /** Replica anti-entropy: the dominating object wins; concurrent objects keep both sets of siblings. */
  merge(remote: VvRegisterState): void {
    const o = vvCompare(this.s.vv, remote.vv);
    if (o === "before") this.s = remote;
    else if (o === "concurrent") this.s = { vv: vvJoin(this.s.vv, remote.vv), siblings: [...new Set([...this.s.siblings, ...remote.siblings].map(String))] };
  }

  contextBytes(context: VersionVector): number {
    return vectorJson(context);
  }
}

// ---------------------------------------------------------------------------
// The reference: causal histories, the definition itself
// ---------------------------------------------------------------------------

interface HistoryVersion {
  value: string;
  id: string;
  history: ReadonlySet<string>;
}

/**
 * The reference every rung is checked against: each write carries its whole
 * causal history, the set of every write its writer had seen plus itself
 * (the definition the clocks above compress; Preguiça et al. §2). Exact by
 * construction, and it grows with every write ever made.
 */
export class CausalHistoryRegister implements Register<ReadonlySet<string>, HistoryVersion[]> {
  private versions: HistoryVersion[] = [];

  constructor(private readonly nextId: () => string) {}

  read(): RegisterRead<ReadonlySet<string>> {
    const seen = new Set<string>();
    for (const v of this.versions) for (const id of v.history) seen.add(id);
    return { values: this.versions.map((v) => v.value), context: seen };
  }

  write(value: string, _client: string, context: ReadonlySet<string> | undefined): ReadonlySet<string> {
    const id = this.nextId();
    const history = new Set(context ?? []);
    history.add(id);
    this.versions = this.keepMaximal([...this.versions, { value, id, history }]);
    return history;
  }

  state(): HistoryVersion[] {
    return this.versions;
  }

  merge(remote: HistoryVersion[]): void {
    this.versions = this.keepMaximal([...this.versions, ...remote]);
  }

  /** Drops every version some other version's history contains, and duplicates. */
  private keepMaximal(vs: readonly HistoryVersion[]): HistoryVersion[] {
    const out: HistoryVersion[] = [];
    for (const v of vs) {
      if (out.some((x) => x.id === v.id)) continue;
      if (vs.some((w) => w.id !== v.id && w.history.has(v.id))) continue;
      out.push(v);
    }
    return out;
  }

  contextBytes(context: ReadonlySet<string>): number {
    return JSON.stringify([...context]).length;
  }
}
