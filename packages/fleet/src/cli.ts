// heck-fleet: parse and validate flags, start the fleet and its control API,
// print where they listen, stop cleanly on Ctrl-C. No logic lives here.
import { Command, InvalidArgumentError, Option } from "commander";
import { EXIT_FAILED, EXIT_OK, exitCodesForUsageErrors, handleClosedPipes, onShutdownSignal, usageError } from "@heck/cli-kit";
import { hostPortOf } from "@heck/sim/http";
import { parseHostPort } from "./core/address.ts";
import { MODES } from "./core/behaviour.ts";
import { parseIndexList } from "./core/selection.ts";
import { ControlServer } from "./io/control-server.ts";
import { FleetInputError } from "./io/fleet.ts";
import { FLEET_WORKER_ENV, runFleetWorker, SplitFleet } from "./io/split-fleet.ts";
import { startFleet } from "./io/start.ts";
import { testCertificate } from "./io/test-certificate.ts";

// `heck-fleet ... | head` closes the pipe early: that is not an error.
handleClosedPipes();

function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got "${value}".`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${name} must be from ${min} to ${max}, got ${n}.`);
    return n;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const program = exitCodesForUsageErrors(new Command("heck-fleet"))
  .description(
    "A fleet of real HTTP origin servers on loopback with controllable behaviour, for tests, benchmarks and demos.\n" +
      "Origin i listens on <base-port>+i and answers any path; a control API flips origins at runtime:\n" +
      '  curl -X PUT localhost:12999/origins/3 -d \'{"mode":"failing"}\'   # modes: ' +
      MODES.join(", ") +
      "\n  curl localhost:12999/origins                                   # per-origin request counts",
  )
  .addOption(new Option("--count <n>", "number of origins (each one listening socket; at most 20000)").default(100).argParser(intArg("--count", 1, 20000)))
  .addOption(new Option("--base-port <p>", "origin i listens on p+i; 0 lets the OS pick every port").default(12000).argParser(intArg("--base-port", 0, 65535)))
  .addOption(new Option("--host <addr>", "address every origin listens on").default("127.0.0.1"))
  .addOption(new Option("--control <host:port>", "address of the control API").default("127.0.0.1:12999"))
  .addOption(
    new Option("--max-connections <n>", "most open client connections over all origins (default: open-files limit - count - 256); over it, idle keep-alive connections are closed").argParser(
      intArg("--max-connections", 1, 1_000_000),
    ),
  )
  .addOption(new Option("--keep-alive-ms <ms>", "idle keep-alive timeout announced to clients").default(5000).argParser(intArg("--keep-alive-ms", 1, 3_600_000)))
  .addOption(new Option("--set <ranges=mode>", 'initial behaviour, repeatable: "0-9=failing", "10,12=slow", "20=flapping"').default([]).argParser(collect))
  .addOption(
    new Option("--workers <k>", "serve the origins from k worker processes, this one answering only the control API (keeps it answering under thousands of checks a second); 1 serves everything here").default(1).argParser(intArg("--workers", 1, 64)),
  )
  .option("--tls", "serve HTTPS with the repository's self-signed test certificate (localhost, 127.0.0.1; test-only)", false)
  .option("--json", "print one JSON line with the addresses when ready (for scripts)", false)
  .action(async (opts: { count: number; basePort: number; host: string; control: string; maxConnections?: number; keepAliveMs: number; set: string[]; tls: boolean; json: boolean; workers: number }) => {
    const fail = (msg: string): never => usageError("heck-fleet", msg);
    const control = parseHostPort(opts.control, "--control");
    if (!control.ok) return fail(control.errors.join("; "));
    if (opts.basePort > 0 && opts.basePort + opts.count - 1 > 65535) fail(`--base-port ${opts.basePort} with --count ${opts.count} runs past port 65535`);
    if (opts.workers > opts.count) fail(`--workers ${opts.workers} is more than the ${opts.count} origins`);
    if (opts.basePort > 0 && control.value.port >= opts.basePort && control.value.port < opts.basePort + opts.count) {
      fail(`--control port ${control.value.port} falls inside the origins' ports ${opts.basePort}-${opts.basePort + opts.count - 1}`);
    }
    const initial: Array<{ indices: number[]; behaviour: unknown }> = [];
    for (const spec of opts.set) {
      const eq = spec.lastIndexOf("=");
      if (eq <= 0) fail(`--set "${spec}": expected <ranges>=<mode>, e.g. 0-9=failing`);
      const indices = parseIndexList(spec.slice(0, eq), opts.count);
      if (!indices.ok) return fail(`--set ${indices.errors.join("; ")}`);
      initial.push({ indices: indices.value, behaviour: { mode: spec.slice(eq + 1).trim() } });
    }
    let running: { fleet: { count: number; host: string; maxConnections: number; port(i: number): number; url(i: number): string; stats(): { openFilesLimit: number } | Promise<{ openFilesLimit: number }> }; controlUrl: string; workerPids: number[]; close(): Promise<void> };
    try {
      const options = {
        count: opts.count,
        basePort: opts.basePort,
        host: opts.host,
        maxConnections: opts.maxConnections,
        keepAliveTimeoutMs: opts.keepAliveMs,
        initial,
        ...(opts.tls ? { tls: testCertificate() } : {}),
      };
      if (opts.workers === 1) {
        const one = await startFleet({ ...options, control: control.value });
        running = { fleet: one.fleet, controlUrl: one.control!.url, workerPids: [], close: () => one.close() };
      } else {
        // Each worker is this same command, forked: it sees the environment variable and serves its slice.
        const split = await SplitFleet.start({
          ...options,
          workers: opts.workers,
          workerEntry: process.argv[1]!,
          onWorkerExit: (w, code, signal) => {
            process.stderr.write(`heck-fleet: worker ${w} exited (${signal ?? `code ${String(code)}`}); its origins are gone, stopping\n`);
            void split.close().finally(() => process.exit(EXIT_FAILED));
          },
        });
        const api = await ControlServer.start(split, control.value.host, control.value.port).catch(async (err: unknown) => {
          await split.close();
          throw err;
        });
        running = {
          fleet: split,
          controlUrl: api.url,
          workerPids: split.workerPids,
          close: async () => {
            await api.close();
            await split.close();
          },
        };
      }
    } catch (err) {
      return fail(err instanceof FleetInputError ? `--set: ${err.message}` : (err as Error).message);
    }
    const { fleet, controlUrl } = running;
    const first = fleet.port(0);
    const last = fleet.port(fleet.count - 1);
    const { openFilesLimit } = await fleet.stats();
    if (opts.json) {
      // Addresses in --json lines are host:port, in every stage (the form --control takes back).
      process.stdout.write(
        JSON.stringify({ ready: true, count: fleet.count, host: fleet.host, firstPort: first, lastPort: last, control: hostPortOf(controlUrl) ?? controlUrl, maxConnections: fleet.maxConnections, pid: process.pid, workers: opts.workers, workerPids: running.workerPids }) + "\n",
      );
    } else {
      const ports = opts.basePort === 0 ? "OS-assigned ports (see GET /origins)" : `ports ${first}-${last}`;
      process.stdout.write(
        `heck-fleet: ${fleet.count} origins on ${fleet.host}, ${ports}${opts.workers > 1 ? ` (${opts.workers} worker processes)` : ""}\n` +
          `  origin 0: ${fleet.url(0)}\n` +
          `  control:  ${controlUrl}  (GET /origins, PUT /origins/<i> {"mode":"failing"}, GET /stats)\n` +
          `  at most ${fleet.maxConnections} open connections (open-files limit ${openFilesLimit})\n` +
          `Ctrl-C stops it.\n`,
      );
    }
    onShutdownSignal(() => {
      running.close().then(
        () => process.exit(EXIT_OK),
        () => process.exit(EXIT_FAILED),
      );
    });
  });

if (process.env[FLEET_WORKER_ENV] === "1" && process.send !== undefined) runFleetWorker();
else
  program.parseAsync().catch((err: unknown) => {
    process.stderr.write(`heck-fleet: ${(err as Error).message}\n`);
    process.exit(EXIT_FAILED);
  });
