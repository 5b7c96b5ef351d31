/**
 * Prometheus metrics of one agent (prom-client, its own registry so several
 * agents can live in one test process). Gauges are computed at scrape time
 * through the agent's port (the same queries the API answers from), so they
 * cannot drift from what the API reports.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { CoreEvent } from "../core/agent-core.ts";
import { HEALTH_STATUSES } from "../core/types.ts";
import type { AgentPort } from "./agent-port.ts";
import type { StoreStatus } from "./store/store.ts";

/** The metric set of an agent. */
export class AgentMetrics {
  readonly registry = new Registry();
  private readonly checks: Counter;
  private readonly starts: Counter;
  private readonly stops: Counter;
  private readonly takeOvers: Counter;
  private readonly memberEvents: Counter;

  constructor(agent: AgentPort) {
    const r = this.registry;
    r.setDefaultLabels({ member: agent.id });
    collectDefaultMetrics({ register: r, prefix: "heck_agent_" });
    this.checks = new Counter({ name: "heck_checks_total", help: "Checks run by this agent's engine, by result.", labelNames: ["result"], registers: [r] });
    this.starts = new Counter({ name: "heck_ownership_starts_total", help: "Origins this agent started checking, by reason (primary, promoted).", labelNames: ["reason"], registers: [r] });
    this.takeOvers = new Counter({
      name: "heck_takeovers_total",
      help: "Origins this agent took over from a member that is gone (crashed, left, cut off) or as a promoted backup; their first check comes within min(interval, 250 ms).",
      registers: [r],
    });
    this.stops = new Counter({ name: "heck_ownership_stops_total", help: "Origins this agent stopped checking, by why (not-owner, handoff-done, handoff-timeout, removed, left...).", labelNames: ["why"], registers: [r] });
    this.memberEvents = new Counter({ name: "heck_member_events_total", help: "SWIM membership events seen, by type.", labelNames: ["type"], registers: [r] });
    new Gauge({
      name: "heck_origins",
      help: "Origins in the replicated list, by the status this node knows.",
      labelNames: ["status"],
      registers: [r],
      collect() {
        const counts: Record<string, number> = Object.fromEntries(HEALTH_STATUSES.map((s) => [s, 0]));
        for (const o of agent.originList()) {
          const st = agent.record(o.id)?.status ?? "unknown";
          counts[st] = (counts[st] ?? 0) + 1;
        }
        for (const [status, n] of Object.entries(counts)) this.set({ status }, n);
      },
    });
    new Gauge({
      name: "heck_origins_checked",
      help: "Origins this agent's engine checks now, by reason (primary, promoted, handoff).",
      labelNames: ["reason"],
      registers: [r],
      collect() {
        const counts: Record<string, number> = { primary: 0, promoted: 0, handoff: 0 };
        for (const reason of agent.activeOrigins().values()) counts[reason] = (counts[reason] ?? 0) + 1;
        for (const [reason, n] of Object.entries(counts)) this.set({ reason }, n);
      },
    });
    new Gauge({
      name: "heck_members",
      help: "Members this agent knows, by SWIM state.",
      labelNames: ["state"],
      registers: [r],
      collect() {
        const counts: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 };
        for (const m of agent.members()) counts[m.state] = (counts[m.state] ?? 0) + 1;
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: "heck_record_age_max_seconds",
      help: "Age of the oldest health record this node holds (how stale its answers can be).",
      registers: [r],
      collect() {
        const now = Date.now();
        let max = 0;
        for (const o of agent.originList()) {
          const rec = agent.record(o.id);
          if (rec !== undefined) max = Math.max(max, now - rec.checkedAtMs);
        }
        this.set(max / 1000);
      },
    });
    new Gauge({
      name: "heck_malformed_messages",
      help: "Malformed input dropped since start, by where it came in: api (requests refused 400/413), swim (packets and streams), store (crdt gossip or raft peer frames).",
      labelNames: ["source"],
      registers: [r],
      collect() {
        for (const [source, n] of Object.entries(agent.malformed())) this.set({ source }, n);
      },
    });
    const storeGauge = (name: string, help: string, pick: (s: StoreStatus) => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(pick(agent.storeStatus()));
        },
      });
    storeGauge("heck_store_records_written", "Health records this agent wrote to the store.", (s) => s.recordsWritten);
    storeGauge("heck_store_stale_refused", "Writes refused because the store held a newer record (a stale observer).", (s) => s.staleRefused);
    storeGauge("heck_store_write_errors", "Store writes that failed (no quorum, unreachable store).", (s) => s.writeErrors);
    storeGauge("heck_store_pending_writes", "Records queued for the store.", (s) => s.pendingWrites);
    storeGauge("heck_store_writable", "1 when the store accepts writes, 0 when not (minority side, store down).", (s) => (s.writable ? 1 : 0));
  }

  /** Counts one engine check. */
  check(ok: boolean): void {
    this.checks.inc({ result: ok ? "ok" : "error" });
  }

  /** Counts ownership changes. */
  coreEvent(e: CoreEvent): void {
    if (e.type === "start") {
      this.starts.inc({ reason: e.reason });
      if (e.takeOver) this.takeOvers.inc();
    }
    else if (e.type === "stop") this.stops.inc({ why: e.why });
  }

  /** Counts a SWIM event. */
  memberEvent(type: string): void {
    this.memberEvents.inc({ type });
  }
}
