/**
 * Benchmarks of @heck/sim. Run: `pnpm --filter @heck/sim bench`.
 *
 * 1. Simulated message deliveries per second of CPU for a 5-node echo
 *    protocol (every delivery triggers one send, 20 messages in flight),
 *    against the goal of 1,000,000/s (a 1,000-seed sweep in minutes), plus the same with a JSON codec
 *    and with the trace ring on, so the cost of each is visible.
 * 2. Whole seeded runs (safety + liveness phase) per CPU second: how long a
 *    1,000-seed sweep takes.
 * 3. The linearizability checker on a 10,000-operation history (10 keys, 8
 *    clients), and on the same history with one stale read injected
 *    (check + witness shrinking).
 *
 * 4. The real UDP/TCP transport on loopback, plaintext against AES-256-GCM
 *    (`openTransport({ keyring })`), alternated in the same run: CPU per
 *    1,400-byte packet (sent and received, both ends in this process) and
 *    CPU per MiB of 64 KiB stream frames.
 *
 * Every figure is the median of several runs. The last line is JSON.
 */
import { checkKvHistory, createPrng, Simulation, type KvOperation, type MessageCodec } from "../src/index.ts";
import { generateKey, keyringFromBase64, openTransport } from "../src/io/index.ts";
import { EchoNode, type EchoMessage } from "../test/support/echo.ts";
import { linearizableHistory } from "../test/support/kv-histories.ts";
import { runSeed } from "../test/sweep-entry.ts";

const GOAL_DELIVERIES_PER_CPU_SEC = 1_000_000;
const IDS = ["n1", "n2", "n3", "n4", "n5"];

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Deliveries per CPU second of one echo run of `simMs` simulated milliseconds. */
function echoRun(simMs: number, options: { codec?: MessageCodec<EchoMessage>; traceLimit: number }): number {
  const sim = new Simulation<EchoMessage, never, never, EchoNode>({
    seed: 1,
    nodeIds: IDS,
    factory: ({ id, peers }) => new EchoNode(id, peers),
    traceLimit: options.traceLimit,
    ...(options.codec !== undefined ? { codec: options.codec } : {}),
  });
  const c0 = cpuMs();
  sim.runFor(simMs);
  const spent = cpuMs() - c0;
  return sim.stats.deliveries / (spent / 1000);
}

const jsonCodec: MessageCodec<EchoMessage> = {
  encode: (m) => Buffer.from(JSON.stringify(m)),
  decode: (b) => JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.length).toString("utf8")) as EchoMessage,
};

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

// Warm up the JIT before measuring anything.
echoRun(50_000, { traceLimit: 0 });

const plain = median(Array.from({ length: 7 }, () => echoRun(200_000, { traceLimit: 0 })));
const withCodec = median(Array.from({ length: 5 }, () => echoRun(50_000, { codec: jsonCodec, traceLimit: 0 })));
const withTrace = median(Array.from({ length: 5 }, () => echoRun(100_000, { traceLimit: 500 })));
console.log("Simulated deliveries per CPU second, 5-node echo (median):");
console.log(`  no codec, no trace      ${fmt(plain).padStart(12)} /s   ${(plain / GOAL_DELIVERIES_PER_CPU_SEC).toFixed(2)}x the goal of ${fmt(GOAL_DELIVERIES_PER_CPU_SEC)}`);
console.log(`  JSON codec              ${fmt(withCodec).padStart(12)} /s   ${(withCodec / plain).toFixed(2)}x no-codec`);
console.log(`  trace ring of 500       ${fmt(withTrace).padStart(12)} /s   ${(withTrace / plain).toFixed(2)}x no-trace`);

// Whole seeded runs of the sim package's own sweep entry (3-7 nodes, 2 s safety + liveness).
runSeed(1);
const seedCpu: number[] = [];
for (let seed = 100; seed < 120; seed++) {
  const c0 = cpuMs();
  runSeed(seed);
  seedCpu.push(cpuMs() - c0);
}
const msPerSeed = median(seedCpu);
console.log(`Seeded runs (gossip sweep entry): ${msPerSeed.toFixed(1)} ms CPU per seed (median of 20); a 1,000-seed sweep on 2 jobs ~ ${((msPerSeed * 1000) / 2 / 1000).toFixed(0)} s`);

// The checker on 10,000 operations, 10 keys, 8 clients.
const history = linearizableHistory(createPrng(2024), { ops: 10_000, keys: 10, clients: 8, unknownRate: 0.01 });
checkKvHistory(history);
const checkTimes: number[] = [];
let steps = 0;
for (let i = 0; i < 7; i++) {
  const t0 = performance.now();
  const r = checkKvHistory(history);
  checkTimes.push(performance.now() - t0);
  if (r.linearizable !== true) throw new Error("bench: generated history should be linearizable");
  steps = r.steps;
}
const checkerMs = median(checkTimes);
const stale: KvOperation[] = history.map((o) => ({ ...o }));
const firstPut = stale.find((o) => o.input.type === "put" && o.input.key === "k3" && o.output !== undefined)!;
const end = Math.max(...stale.map((o) => o.returnMs ?? o.callMs));
stale.push({ id: 99_999, client: "late", input: { type: "get", key: "k3" }, callMs: end + 1, returnMs: end + 2, output: { type: "get", value: (firstPut.input as { value: string }).value } });
const failTimes: number[] = [];
let witness = 0;
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const r = checkKvHistory(stale);
  failTimes.push(performance.now() - t0);
  if (r.linearizable !== false) throw new Error("bench: the stale read should be caught");
  witness = r.witness!.length;
}
const failMs = median(failTimes);
console.log(`Linearizability checker, 10,000 ops / 10 keys / 8 clients: ${checkerMs.toFixed(1)} ms (median of 7, ${fmt(steps)} search steps, ${fmt((steps / checkerMs) * 1000)} steps/s)`);
console.log(`  same history + one stale read: ${failMs.toFixed(1)} ms to reject it and shrink to a ${witness}-operation witness (${(failMs / checkerMs).toFixed(1)}x the passing check)`);

// The real transport, plaintext vs encrypted, alternated so both see the same machine load.
async function transportRound(encrypted: boolean): Promise<{ usPerPacket: number; cpuMsPerMiB: number }> {
  const key = generateKey();
  const opts = encrypted ? { keyring: keyringFromBase64([key]) } : {};
  const a = await openTransport({ ...opts });
  const b = await openTransport(encrypted ? { keyring: keyringFromBase64([key]) } : {});
  try {
    let got = 0;
    b.onPacket(() => got++);
    const packet = new Uint8Array(1400).fill(7);
    const settle = async (target: number): Promise<void> => {
      for (let spins = 0; got < target && spins < 200; spins++) await new Promise((r) => setImmediate(r));
    };
    const c0 = cpuMs();
    let sent = 0;
    for (let batch = 0; batch < 100; batch++) {
      // Batches of 100, each waited for, so loopback's socket buffer never overflows.
      for (let i = 0; i < 100; i++) a.sendPacket(b.localAddress, packet);
      sent += 100;
      await settle(sent);
    }
    const packetCpu = cpuMs() - c0;
    let bytes = 0;
    b.onStream((s) => s.onFrame((f) => (bytes += f.length)));
    a.onStream(() => {});
    const s = await a.dial(b.localAddress, 2000);
    const frame = new Uint8Array(64 * 1024).fill(9);
    const frames = 320; // 20 MiB
    const c1 = cpuMs();
    for (let i = 0; i < frames; i++) s.send(frame);
    for (let spins = 0; bytes < frames * frame.length && spins < 100_000; spins++) await new Promise((r) => setTimeout(r, 1));
    const streamCpu = cpuMs() - c1;
    s.close();
    return { usPerPacket: (packetCpu * 1000) / Math.max(got, 1), cpuMsPerMiB: streamCpu / ((bytes || 1) / 1024 / 1024) };
  } finally {
    await a.close();
    await b.close();
  }
}
await transportRound(false);
await transportRound(true);
const plainRounds: Array<{ usPerPacket: number; cpuMsPerMiB: number }> = [];
const sealedRounds: Array<{ usPerPacket: number; cpuMsPerMiB: number }> = [];
for (let i = 0; i < 5; i++) {
  plainRounds.push(await transportRound(false));
  sealedRounds.push(await transportRound(true));
}
const plainPacketUs = median(plainRounds.map((r) => r.usPerPacket));
const sealedPacketUs = median(sealedRounds.map((r) => r.usPerPacket));
const plainMiB = median(plainRounds.map((r) => r.cpuMsPerMiB));
const sealedMiB = median(sealedRounds.map((r) => r.cpuMsPerMiB));
console.log("Real UDP/TCP transport on loopback, plaintext vs AES-256-GCM keyring (median of 5 alternated rounds):");
console.log(`  1,400-byte packet, send + receive   ${plainPacketUs.toFixed(1).padStart(6)} µs CPU plaintext   ${sealedPacketUs.toFixed(1).padStart(6)} µs encrypted   ${(sealedPacketUs / plainPacketUs).toFixed(2)}x`);
console.log(`  64 KiB stream frames, per MiB       ${plainMiB.toFixed(2).padStart(6)} ms CPU plaintext   ${sealedMiB.toFixed(2).padStart(6)} ms encrypted   ${(sealedMiB / plainMiB).toFixed(2)}x`);

console.log(
  JSON.stringify({
    deliveriesPerCpuSec: Math.round(plain),
    deliveriesPerCpuSecGoal: GOAL_DELIVERIES_PER_CPU_SEC,
    deliveriesPerCpuSecVsGoal: Number((plain / GOAL_DELIVERIES_PER_CPU_SEC).toFixed(2)),
    deliveriesPerCpuSecJsonCodec: Math.round(withCodec),
    deliveriesPerCpuSecTraced: Math.round(withTrace),
    cpuMsPerSeededRun: Number(msPerSeed.toFixed(1)),
    checkerMsFor10kOps: Number(checkerMs.toFixed(1)),
    checkerMsFor10kOpsWithViolationAndShrink: Number(failMs.toFixed(1)),
    witnessOps: witness,
    transportPacketCpuUsPlain: Number(plainPacketUs.toFixed(1)),
    transportPacketCpuUsEncrypted: Number(sealedPacketUs.toFixed(1)),
    transportStreamCpuMsPerMiBPlain: Number(plainMiB.toFixed(2)),
    transportStreamCpuMsPerMiBEncrypted: Number(sealedMiB.toFixed(2)),
  }),
);
