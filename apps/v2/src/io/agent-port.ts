/**
 * The narrow port between an agent and what serves it to the outside: the
 * HTTP API, the dashboard's data and the Prometheus metrics. They read the
 * agent through these queries and act on it through these few commands,
 * and never see its internals (the core, the engine, SWIM, the store), the
 * way memberlist's `Delegate` lets the library call into the application
 * without knowing it. `Agent` implements it; `api.ts` and `metrics.ts`
 * import nothing else from the agent's side, so there is no import circle
 * between the driver and what it serves, and either side can change alone.
 */
import type { FaultCommand } from "@heck/sim";
import type { EngineStats } from "@heck/v1-checker";
import type { ActiveReason } from "../core/agent-core.ts";
import type { HealthRecord, MemberId, MemberInfo, OriginSpec, OwnershipEntry } from "../core/types.ts";
import type { StoreStatus } from "./store/store.ts";

/** A SWIM member with its gossip address and the API address from its metadata. */
export interface MemberDetail {
  id: MemberId;
  /** SWIM gossip address, "host:port". */
  addr: string;
  state: MemberInfo["state"];
  incarnation: number;
  /** HTTP API "host:port" from the member's metadata; undefined for a member whose metadata is not an agent's. */
  api: string | undefined;
}

/** What a fault command left in place: the members now blocked, and the drop rate. */
export interface FaultSettings {
  blocked: string[];
  dropRate: number;
}

/**
 * Input that failed to decode and was dropped, counted by where it came in:
 * API requests refused with 400/413, SWIM packets and streams, and the
 * store's peer messages (crdt gossip, raft peer frames).
 */
export interface MalformedCounts {
  api: number;
  swim: number;
  store: number;
}

/** Everything the API, the dashboard and the metrics may ask of an agent, and tell it to do. */
export interface AgentPort {
  /** This agent's member id. */
  readonly id: string;
  /** k: checkers per origin (the API reports it beside the ownership table). */
  readonly replicas: number;
  /** How long a leave waits for hand-offs (the API's answer to a leave says it). */
  readonly handoffGraceMs: number;
  /** This agent's API address, "host:port". */
  readonly apiAddress: string;

  /**
   * Null once the agent is up; before (joining, loading the origin list from
   * the store), what it is doing. Until then its lists are incomplete.
   */
  readonly starting: string | null;

  // ---- read-only queries --------------------------------------------------

  /** The replicated origin list, as this agent has received it. */
  originList(): readonly OriginSpec[];
  /** One origin, or undefined when this agent does not know it. */
  origin(id: string): OriginSpec | undefined;
  /** The newest health record of an origin this agent has received. */
  record(id: string): HealthRecord | undefined;
  /** The top-k owners of an origin in this agent's view, primary first. */
  ownersOf(id: string): readonly MemberId[];
  /** The origins this agent's engine checks now, with why (primary, promoted, handoff). */
  activeOrigins(): ReadonlyMap<string, ActiveReason>;
  /** The members the ownership table is computed over (SWIM alive and suspect). */
  ownerView(): readonly MemberId[];
  /** Origins per member in this agent's ownership table. */
  load(): ReadonlyMap<MemberId, number>;
  /** The whole ownership table this agent computes. */
  ownershipTable(): readonly OwnershipEntry[];
  /** Every member SWIM knows, with state, incarnation and API address. */
  members(): MemberInfo[];
  /** The same members with their gossip addresses. */
  memberDetails(): MemberDetail[];
  /** The store's status line and counters. */
  storeStatus(): StoreStatus;
  /** The checking engine's counters. */
  engineStats(): EngineStats;
  /** Malformed input dropped since start, by where it came in (none of it crashes or changes anything). */
  malformed(): MalformedCounts;
  /** Prometheus text of this agent's metrics, with its content type. */
  metricsText(): Promise<{ contentType: string; text: string }>;

  // ---- commands -------------------------------------------------------------

  /** Validates an origin as the engine will check it (v1's rules, the agent's defaults); errors are prefixed by `path`. */
  validateOrigin(raw: unknown, path: string): { ok: true } | { ok: false; errors: string[] };
  /** Adds validated origins to the replicated list (through the store, so every agent gets them). */
  addOrigins(raws: readonly unknown[]): Promise<OriginSpec[]>;
  /** Removes an origin everywhere; false when this agent does not know it. */
  removeOrigin(id: string): Promise<boolean>;
  /** Applies a fault command to every transport of the agent; throws a TypeError naming the field for an unknown member. */
  setFaults(command: FaultCommand): FaultSettings;
  /** Leaves the cluster gracefully, then stops the agent. */
  leave(): Promise<void>;
  /** Writes a line to the agent's log. */
  log(line: string): void;
}
