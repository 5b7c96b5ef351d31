/**
 * The one contract every stage adapter keeps, so the run driver, the CLI and
 * the page treat swim, raft, crdt, v2 and ownership alike. An adapter builds
 * its stage's existing seeded simulation (the cluster its tests and ladders
 * run), and says what its nodes hold in the paper's words, which invariants
 * hold right now, and what a message in flight is.
 */
import type { FaultStep, MessageInFlight, TraceEvent } from "@heck/sim";

/** The stages the view opens. */
export const STAGES = ["swim", "raft", "crdt", "v2", "ownership"] as const;

/** The nodes of every stage's cluster (five: enough for a majority to survive two crashes). */
export const NODE_IDS: readonly string[] = ["n1", "n2", "n3", "n4", "n5"];

/** One of {@link STAGES}. */
export type StageName = (typeof STAGES)[number];

/** True when `s` names a stage. */
export function isStageName(s: string): s is StageName {
  return (STAGES as readonly string[]).includes(s);
}

/**
 * The part of @heck/sim's Simulation an adapter hands to the driver: the
 * clock, stepping, and the faults a learner applies.
 */
export interface DrivenSimulation {
  readonly nowMs: number;
  readonly nodeIds: readonly string[];
  /** The live nodes: the driver reads their next deadlines to step exactly up to an action. */
  readonly up: ReadonlyArray<{ nextDeadlineMs(): number }>;
  step(): boolean;
  runFor(ms: number): void;
  isUp(id: string): boolean;
  partition(...groups: string[][]): void;
  heal(): void;
  setDropRate(rate: number): void;
  record(event: TraceEvent): void;
  readonly network: { peekTime(): number; messagesInFlight(): MessageInFlight[]; activePartitions(): unknown[]; isCut(from: string, to: string): boolean };
}

/** One node's state as the page shows it: `id`, `up`, then the stage's fields in the paper's words. */
export interface NodeView {
  id: string;
  up: boolean;
  [field: string]: unknown;
}

/** An invariant's status now. `safety` ones stop the run when broken; the others report progress (e.g. converged). */
export interface InvariantStatus {
  name: string;
  kind: "safety" | "progress";
  ok: boolean;
  detail?: string;
}

/** What a message is, for its colour and its hover text. */
export interface MessageDescription {
  /** The message type (colour key): "heartbeat", "ping", "delta"... */
  type: string;
  /** A JSON-safe summary of its contents. */
  detail: unknown;
}

/** Client operations a stage takes. */
export type OperationKind = "put" | "flip";

/** A stage's seeded cluster as the driver and the page use it. */
export interface StageAdapter {
  readonly stage: StageName;
  readonly sim: DrivenSimulation;
  readonly nodeIds: readonly string[];
  /** What the page offers: puts (raft, crdt) and origin flips (v2). */
  readonly operations: readonly OperationKind[];
  /** Origins a flip may name (v2), else empty. */
  readonly origins: readonly string[];
  /** Where a seeded scenario's run ends (its safety phase plus its liveness budget); a failure shows by then. */
  readonly endMs?: number;
  crash(id: string): void;
  restart(id: string): void;
  put(node: string, key: string, value: string): void;
  flip(origin: string): void;
  nodeView(id: string): NodeView;
  invariants(): InvariantStatus[];
  describe(payload: unknown): MessageDescription;
}

/**
 * The learner's actions on a scenario that takes no client operations: crash
 * and restart straight on its runner (each a no-op when the node is already
 * down or up), no puts, no flips.
 */
export function runnerActions(sim: { isUp(id: string): boolean; crash(id: string): void; restart(id: string): void }): Pick<StageAdapter, "operations" | "origins" | "crash" | "restart" | "put" | "flip"> {
  return {
    operations: [],
    origins: [],
    crash: (id) => {
      if (sim.isUp(id)) sim.crash(id);
    },
    restart: (id) => {
      if (!sim.isUp(id)) sim.restart(id);
    },
    put: () => undefined,
    flip: () => undefined,
  };
}

/** What an adapter is given: the seed, and where the run's trace goes. */
export interface StageContext {
  seed: number;
  onTrace(event: TraceEvent): void;
  /**
   * Extra checks run after every step beside the stage's own (e.g. a
   * learner's "break X" exercise, or a test's deliberately wrong rule).
   */
  checks?: ReadonlyArray<StageCheck>;
  /** The fault schedule a seeded scenario applies instead of the one its seed draws (e.g. a failure's shrunk one). */
  faults?: FaultStep[];
}

/** A check run after every step, given the stage's simulation: a description of the violation, or undefined while it holds. */
export interface StageCheck {
  name: string;
  check(sim: unknown): string | undefined;
}

/**
 * Records the first violation of each safety invariant an adapter checks
 * itself (after every step), so the page can flag it and the driver stop.
 */
export class InvariantBoard {
  private readonly broken = new Map<string, string>();

  constructor(readonly names: ReadonlyArray<{ name: string; kind: "safety" | "progress" }>) {}

  /** Marks `name` broken with `detail` (the first report wins). Returns true when newly broken. */
  fail(name: string, detail: string): boolean {
    if (this.broken.has(name)) return false;
    this.broken.set(name, detail);
    return true;
  }

  /** The first violation, if any invariant broke. */
  firstViolation(): { name: string; detail: string } | undefined {
    for (const [name, detail] of this.broken) return { name, detail };
    return undefined;
  }

  /** Statuses, with `progress` computing the progress ones. */
  statuses(progress: (name: string) => InvariantStatus | undefined = () => undefined): InvariantStatus[] {
    return this.names.map(({ name, kind }) => {
      if (kind === "progress") return progress(name) ?? { name, kind, ok: true };
      const detail = this.broken.get(name);
      return detail === undefined ? { name, kind, ok: true } : { name, kind, ok: false, detail };
    });
  }
}
