/**
 * How fast is the Raft core alone? Three RaftNodes in one process, messages
 * passed by hand through the binary codec, no disk and no network: what is
 * left is the algorithm's own cost per entry. Prints one line per workload
 * and a JSON line; medians of 5 runs.
 *
 *   npx tsx packages/raft-kv/test/raft/core-throughput.ts
 */
import { createPrng } from "@heck/sim";
import { RaftNode } from "../../src/core/raft/raft-node.ts";
import { decodeMessage, encodeMessage } from "../../src/core/raft/codec.ts";
import type { Message } from "../../src/core/raft/types.ts";

function cluster(): { leader: RaftNode; pump: () => number } {
  const ids = ["n1", "n2", "n3"];
  const nodes = new Map(ids.map((id) => [id, RaftNode.bootstrap({ id, prng: createPrng(1).fork(id) }, ids)]));
  let queue: Message[] = [];
  /** Delivers until quiet; returns the bytes that crossed the "wire". */
  const pump = (): number => {
    let bytes = 0;
    for (;;) {
      for (const n of nodes.values()) {
        while (n.hasReady()) {
          const rd = n.ready();
          for (const m of rd.messages) queue.push(m);
          n.advance();
        }
      }
      if (queue.length === 0) return bytes;
      const batch = queue;
      queue = [];
      for (const m of batch) {
        const wire = encodeMessage(m);
        bytes += wire.length;
        const d = decodeMessage(wire);
        if (!d.ok) throw new Error(d.error.message);
        nodes.get(m.to)!.step(d.value);
      }
    }
  };
  pump();
  nodes.get("n1")!.campaign();
  pump();
  return { leader: nodes.get("n1")!, pump };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function measure(entries: number, batch: number): number {
  const { leader, pump } = cluster();
  const payload = new Uint8Array(256);
  const t0 = performance.now();
  for (let i = 0; i < entries; i += batch) {
    for (let j = 0; j < batch; j++) leader.propose(payload);
    pump();
  }
  const ms = performance.now() - t0;
  if (leader.status().commit < entries) throw new Error("not everything committed");
  return entries / (ms / 1000);
}

const runs = 5;
const batched = median(Array.from({ length: runs }, () => measure(100_000, 64)));
const sequential = median(Array.from({ length: runs }, () => measure(10_000, 1)));
console.log(`batched (64 proposals per Ready, 256-byte entries): ${Math.round(batched)} entries/s committed on 3 in-process nodes`);
console.log(`sequential (1 proposal per Ready):                  ${Math.round(sequential)} entries/s`);
console.log(JSON.stringify({ coreBatchedEntriesPerSec: Math.round(batched), coreSequentialEntriesPerSec: Math.round(sequential) }));
