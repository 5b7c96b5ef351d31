// A checker's load on a fleet, for bench/split.ts: requests to origins
// first..first+count-1 in a fixed cycle over keep-alive connections (one per
// origin, as a health checker keeps them), either paced at a rate or as fast
// as `inFlight` concurrent loops go. Prints "start" when it begins sending,
// runs for a bounded time, then prints one JSON line: requests answered,
// errors, and the time it ran.
//
//   node --import tsx bench/check-load.ts <host> <firstPort> <count> <rate|max> <inFlight> <seconds>
import http from "node:http";

const [host = "127.0.0.1", firstPortArg = "20000", countArg = "2000", rateArg = "2000", inFlightArg = "64", secondsArg = "10"] = process.argv.slice(2);
const firstPort = Number(firstPortArg);
const count = Number(countArg);
const inFlight = Number(inFlightArg);
const seconds = Number(secondsArg);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let next = 0;
let answered = 0;
let errors = 0;

function check(): Promise<void> {
  const port = firstPort + (next++ % count);
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: "/health", agent, timeout: 5_000 }, (res) => {
      res.resume();
      res.on("end", () => {
        answered += 1;
        resolve();
      });
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", () => {
      errors += 1;
      resolve();
    });
  });
}

process.stdout.write("start\n");
const began = performance.now();
const deadline = began + seconds * 1000;
if (rateArg === "max") {
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) await check();
    }),
  );
} else {
  // Paced: every 10 ms, the checks due by now (a checker's schedule), however many are still in flight.
  const rate = Number(rateArg);
  const start = performance.now();
  let sent = 0;
  const pending = new Set<Promise<void>>();
  while (performance.now() < deadline) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    for (; sent < due; sent++) {
      const p = check().finally(() => pending.delete(p));
      pending.add(p);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  await Promise.all(pending);
}
process.stdout.write(JSON.stringify({ answered, errors, ranMs: Math.round(performance.now() - began) }) + "\n");
agent.destroy();
