/**
 * How faithfully the lab makes the faults it is asked for, on this kernel:
 * for each fault, what a probe on one host measures sending to another,
 * beside what was asked (the ratio is measured / asked). Also what the delay
 * queue costs (queue backend): its CPU time per packet held.
 *
 *   pnpm --filter @heck/net bench          (needs root; prints a table, then one JSON line)
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { NetLab } from "../src/io/lab.ts";
import { labSupport } from "../src/io/system.ts";
import { startProbe } from "../test/support/probe.ts";

const support = labSupport();
if (!support.ok) {
  process.stderr.write(`bench: ${support.reason}\n`);
  process.exit(2);
}

const PACKETS = Number(process.env.HECK_BENCH_PACKETS ?? 4000);
const lab = await NetLab.create({ hosts: ["a", "b"], seed: 7 });
const rows: Array<{ fault: string; asked: number; measured: number; unit: string }> = [];
try {
  const a = await startProbe(lab, "a");
  await startProbe(lab, "b");
  const send = (count: number, intervalMs = 0, waitMs = 1500) => a.udp("b", count, { intervalMs, waitMs });
  const pct = (x: number, n: number) => (100 * x) / n;
  const quantile = (xs: number[], q: number) => [...xs].sort((p, r) => p - r)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

  const base = await send(PACKETS);
  const baseRtt = quantile(base.replies.map((r) => r.rttMs), 0.5);
  rows.push({ fault: "no fault: delivered", asked: 100, measured: pct(base.replies.length, PACKETS), unit: "%" });

  await lab.impair({ lossPct: 10 }, { from: ["a"], to: ["b"] });
  rows.push({ fault: "loss 10%: lost", asked: 10, measured: 100 - pct((await send(PACKETS)).replies.length, PACKETS), unit: "%" });
  await lab.impair({ lossPct: 30 }, { from: ["a"], to: ["b"] });
  rows.push({ fault: "loss 30%: lost", asked: 30, measured: 100 - pct((await send(PACKETS)).replies.length, PACKETS), unit: "%" });
  await lab.heal();

  await lab.impair({ duplicatePct: 10 }, { from: ["a"], to: ["b"] });
  rows.push({ fault: "duplicate 10%: extra copies", asked: 10, measured: pct((await send(PACKETS)).replies.length - PACKETS, PACKETS), unit: "%" });
  await lab.heal();

  const dqPid = async () => Number(JSON.parse(readFileSync(`/run/hecklab/${lab.plan.index}/lab.json`, "utf8")).queues?.a?.pid ?? 0);
  const cpuTicks = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  };
  await lab.impair({ delayMs: 200, jitterMs: 50 }, { from: ["a"], to: ["b"] });
  const pid = lab.backend === "queue" ? await dqPid() : 0;
  const before = pid ? cpuTicks(pid) : 0;
  const delayed = await send(PACKETS, 0, 2000);
  const after = pid ? cpuTicks(pid) : 0;
  const rtts = delayed.replies.map((r) => r.rttMs - baseRtt);
  rows.push({ fault: "delay 200±50 ms: delivered", asked: 100, measured: pct(delayed.replies.length, PACKETS), unit: "%" });
  rows.push({ fault: "delay 200±50 ms: min added", asked: 150, measured: Math.min(...rtts), unit: "ms" });
  rows.push({ fault: "delay 200±50 ms: median added", asked: 200, measured: quantile(rtts, 0.5), unit: "ms" });
  rows.push({ fault: "delay 200±50 ms: p99 added", asked: 249, measured: quantile(rtts, 0.99), unit: "ms" });
  let inversions = 0;
  for (let i = 1; i < delayed.replies.length; i += 1) if (delayed.replies[i]!.seq < delayed.replies[i - 1]!.seq) inversions += 1;
  rows.push({ fault: "delay 200±50 ms: arrivals out of order", asked: NaN, measured: pct(inversions, delayed.replies.length), unit: "%" });
  await lab.heal();

  await lab.impair({ delayMs: 100, reorderPct: 25 }, { from: ["a"], to: ["b"] });
  const reordered = await send(PACKETS, 0, 1500);
  rows.push({ fault: "reorder 25% (delay 100 ms): sent at once", asked: 25, measured: pct(reordered.replies.filter((r) => r.rttMs - baseRtt < 50).length, PACKETS), unit: "%" });
  await lab.heal();

  const cpuUsPerPacket = pid ? ((after - before) * 10_000) / PACKETS : NaN; // 100 ticks per second
  process.stdout.write(`network lab fidelity, ${PACKETS} UDP packets per row, one host to another; backend ${lab.backend}; load average ${loadavg().map((x) => x.toFixed(1)).join(" ")}\n\n`);
  process.stdout.write(`| fault | asked | measured | ratio |\n|---|---|---|---|\n`);
  for (const r of rows) process.stdout.write(`| ${r.fault} | ${Number.isNaN(r.asked) ? "-" : `${r.asked} ${r.unit}`} | ${r.measured.toFixed(1)} ${r.unit} | ${Number.isNaN(r.asked) ? "-" : (r.measured / r.asked).toFixed(2)} |\n`);
  if (lab.backend === "queue") process.stdout.write(`\ndelay queue CPU: ${cpuUsPerPacket.toFixed(1)} µs per packet held (${PACKETS} packets; clock ticks of 10 ms, so +-${(100_000 / PACKETS).toFixed(0)} µs)\n`);
  process.stdout.write(JSON.stringify({ backend: lab.backend, packets: PACKETS, rows, delayQueueCpuUsPerPacket: cpuUsPerPacket }) + "\n");
} finally {
  await lab.destroy();
}
