/**
 * The register workload of the real-process nemesis tests: concurrent
 * clients put, get and compare-and-set a few keys through the HTTP API while
 * a nemesis breaks the cluster, recording every operation for @heck/sim's
 * linearizability checker, and write unique keys whose acknowledgement
 * promises they survive. Clients 0..pinned-1 stay on one member each (so a
 * partitioned or lagging member's answers are observed); the rest fail over.
 */
import { KvHistoryRecorder, checkKvHistory, type KvInput, type KvOutput, type Prng } from "@heck/sim";
import { RaftKvHttpClient, RaftKvHttpError } from "../../src/io/http-client.ts";

/** Options of {@link startRegisterWorkload}. */
export interface RegisterWorkloadOptions {
  endpoints: readonly string[];
  prng: Prng;
  /** Milliseconds since the run started (the history's clock). */
  now: () => number;
  clients?: number;
  /** Clients pinned to one member each. Default min(3, endpoints). */
  pinned?: number;
  keys?: readonly string[];
  /** Per-request timeouts of pinned and failing-over clients. */
  pinnedTimeoutMs?: number;
  failoverTimeoutMs?: number;
}

/** A running workload. */
export interface RegisterWorkload {
  recorder: KvHistoryRecorder;
  /** Unique keys acknowledged, with their values. */
  acked: Map<string, string>;
  keys: readonly string[];
  /** Stops the clients and waits for their last requests. */
  stop(): Promise<void>;
}

/** Starts the clients. */
export function startRegisterWorkload(o: RegisterWorkloadOptions): RegisterWorkload {
  const recorder = new KvHistoryRecorder();
  const keys = o.keys ?? ["r0", "r1", "r2", "r3"];
  const acked = new Map<string, string>();
  const pinned = o.pinned ?? Math.min(3, o.endpoints.length);
  let running = true;

  const client = async (c: number) => {
    const rnd = o.prng.fork(`client-${c}`);
    const kv = new RaftKvHttpClient(c < pinned ? { endpoints: [o.endpoints[c % o.endpoints.length]!], timeoutMs: o.pinnedTimeoutMs ?? 1_500 } : { endpoints: rnd.shuffle([...o.endpoints]), timeoutMs: o.failoverTimeoutMs ?? 2_500 });
    let n = 0;
    const lastSeen = new Map<string, string | null>();
    while (running) {
      n++;
      if (n % 4 === 0) {
        // Unique keys: every acknowledged one must survive the nemesis.
        const key = `ack/${c}-${n}`;
        try {
          await kv.put(key, String(n));
          acked.set(key, String(n));
        } catch {
          // Unknown outcome: not acknowledged, so not required to survive.
        }
        continue;
      }
      const key = rnd.pick(keys);
      const roll = rnd.nextFloat();
      let input: KvInput;
      if (roll < 0.4) input = { type: "put", key, value: `c${c}-${n}` };
      else if (roll < 0.75) input = { type: "get", key };
      else input = { type: "cas", key, expected: lastSeen.get(key) ?? null, value: `c${c}-${n}` };
      const id = recorder.invoke(c, input, o.now());
      try {
        let output: KvOutput;
        if (input.type === "put") {
          await kv.put(key, input.value);
          output = { type: "put" };
        } else if (input.type === "get") {
          const r = await kv.get(key);
          lastSeen.set(key, r?.value ?? null);
          output = { type: "get", value: r?.value ?? null };
        } else {
          const exp = input.type === "cas" ? input.expected : null;
          const r = await kv.cas(key, exp === null ? { version: 0 } : { value: exp }, input.type === "cas" ? input.value : "");
          output = { type: "cas", ok: r.succeeded };
        }
        recorder.ok(id, output, o.now());
      } catch (error) {
        // A 4xx is a definite refusal (nothing applied); anything else is an unknown outcome.
        if (error instanceof RaftKvHttpError && error.status >= 400 && error.status < 500 && error.status !== 421 && error.status !== 429) recorder.fail(id);
      }
    }
  };
  const clients = Array.from({ length: o.clients ?? 6 }, (_, c) => client(c));
  return {
    recorder,
    acked,
    keys,
    stop: async () => {
      running = false;
      await Promise.all(clients);
    },
  };
}

/** What the final check found. */
export interface WorkloadVerdict {
  /** undefined when the checker could not decide within its budget. */
  linearizable: boolean | undefined;
  report: string;
  /** Operations with an answer. */
  completed: number;
  /** Acknowledged unique keys missing or changed. */
  lost: Array<[string, string]>;
}

/**
 * After the heal: linearizable final reads of every key join the history
 * (the last acknowledged writes must be visible), the history is checked,
 * and every acknowledged unique key is read back.
 */
export async function checkRegisterWorkload(w: RegisterWorkload, endpoints: readonly string[], now: () => number): Promise<WorkloadVerdict> {
  const reader = new RaftKvHttpClient({ endpoints: [...endpoints], timeoutMs: 10_000 });
  for (const key of w.keys) {
    const id = w.recorder.invoke("final", { type: "get", key }, now());
    const r = await reader.get(key);
    w.recorder.ok(id, { type: "get", value: r?.value ?? null }, now());
  }
  const history = w.recorder.history();
  const result = checkKvHistory(history);
  const all = await reader.range("ack/");
  const stored = new Map(all.kvs.map((kv) => [kv.key, kv.value]));
  return {
    linearizable: result.linearizable,
    report: result.report,
    completed: history.filter((op) => op.output !== undefined).length,
    lost: [...w.acked].filter(([k, v]) => stored.get(k) !== v),
  };
}
