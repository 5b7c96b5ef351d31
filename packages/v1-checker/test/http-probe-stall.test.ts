/**
 * A check's timeout is the origin's, not the checker's: when the checker's
 * own thread is stalled past a deadline while the answer has already
 * arrived, the answer counts. The origin runs in a worker thread, so it
 * keeps answering while the test blocks the main thread.
 */
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_DEFAULTS, HttpProber, parseTarget, type TargetSpec } from "../src/index.ts";

// An HTTP origin in a worker: answers 200 after 30 ms, or never for /hang. Once an answer has
// been handed to the kernel it counts it in answered[0], which the blocked main thread can read.
const ORIGIN = `
const http = require("node:http");
const { parentPort, workerData } = require("node:worker_threads");
const answered = new Int32Array(workerData);
const server = http.createServer((req, res) => {
  if (req.url !== "/hang") setTimeout(() => res.end("ok", () => Atomics.add(answered, 0, 1)), 30);
});
server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));
`;

const answered = new Int32Array(new SharedArrayBuffer(4));
let worker: Worker;
let port: number;
beforeAll(async () => {
  worker = new Worker(ORIGIN, { eval: true, workerData: answered.buffer });
  port = await new Promise<number>((resolve) => worker.once("message", resolve));
});
afterAll(() => worker.terminate());

/** Blocks this thread, as a busy CPU or a long garbage collection would, for `ms` and until `done()`. */
function stall(ms: number, done: () => boolean = () => true): void {
  const end = performance.now() + ms;
  while (performance.now() < end || !done()) {
    // busy
  }
}

function spec(path: string): TargetSpec {
  const parsed = parseTarget({ id: "o", url: `http://127.0.0.1:${port}${path}`, timeoutMs: 200 }, BUILTIN_DEFAULTS);
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  return parsed.value;
}

describe("HttpProber under a stalled checker", () => {
  it("takes an answer that arrived before the deadline even when the checker only reads it after", async () => {
    const prober = new HttpProber();
    try {
      expect((await prober.check(spec("/"))).ok).toBe(true); // connected and kept alive
      const before = Atomics.load(answered, 0);
      const result = prober.check(spec("/"));
      await new Promise((r) => setImmediate(r)); // the request goes out
      // The answer is sent after 30 ms; the 200 ms deadline passes while this thread is busy.
      stall(600, () => Atomics.load(answered, 0) > before);
      const r = await result;
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, httpStatus: 200 });
      expect(r.latencyMs).toBeGreaterThanOrEqual(600); // honest: the latency includes the stall
    } finally {
      await prober.close();
    }
  });

  it("still times out a check that has no answer when the stall ends", async () => {
    const prober = new HttpProber();
    try {
      const result = prober.check(spec("/hang"));
      await new Promise((r) => setImmediate(r));
      stall(600);
      expect(await result).toMatchObject({ ok: false, error: { kind: "timeout", message: "no complete answer within 200 ms" } });
    } finally {
      await prober.close();
    }
  });
});
