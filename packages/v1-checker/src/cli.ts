// heck-v1: parse and validate flags, wire the engine, API, fleet or client,
// print. Every decision lives in src/core or src/io; this file only connects.
import { Command, InvalidArgumentError, Option } from "commander";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, exitCodesForUsageErrors, handleClosedPipes, onShutdownSignal } from "@heck/cli-kit";
import { formatAge, formatTable } from "./core/format.ts";
import { HEALTH_STATUSES, type HealthStatus } from "./core/types.ts";
import { CheckerClient, DEFAULT_LISTEN } from "./io/api-client.ts";
import { ApiServer, type TargetView } from "./io/api-server.ts";
import { loadConfigFile } from "./io/config-file.ts";
import { runDemo } from "./io/demo.ts";
import { CheckEngine } from "./io/engine.ts";
import { DEFAULT_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from "./io/v8-heap.ts";

// `heck-v1 status | head` closes the pipe early: that is not an error.
handleClosedPipes();

function fail(message: string, code = EXIT_USAGE): never {
  process.stderr.write(`heck-v1: ${message}\n`);
  process.exit(code);
}

function intArg(flag: string, min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got "${value}".`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`${flag} must be from ${min} to ${max}, got ${n}.`);
    return n;
  };
}

function hostPortArg(flag: string) {
  return (value: string): { host: string; port: number } => {
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
    if (!m || Number(m[3]) > 65535) throw new InvalidArgumentError(`${flag} must be host:port such as 127.0.0.1:13100, got "${value}".`);
    return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
  };
}

const serverOption = () =>
  new Option("--server <url>", "the checker's API (a running `heck-v1 run` or `heck-v1 demo`)").default(process.env["HECK_V1_SERVER"] ?? `http://${DEFAULT_LISTEN}`).env("HECK_V1_SERVER");

function statusRows(targets: TargetView[]): string[] {
  const now = Date.now();
  return formatTable(
    ["ID", "STATUS", "FOR", "LATENCY", "LAST ERROR", "URL"],
    targets.map((t) => [
      t.id,
      t.status,
      formatAge(now - Date.parse(t.since)),
      t.latencyMs === null ? "-" : `${t.latencyMs} ms`,
      t.lastError ? `${t.lastError.kind}: ${t.lastError.message}` : "-",
      t.url,
    ]),
  );
}

const program = exitCodesForUsageErrors(new Command("heck-v1"))
  .description(
    "Stage 1 of Heck: one process polls n origins every interval and answers what is healthy.\n" +
      "Start with `pnpm heck-v1 demo`; run your own with `pnpm heck-v1 run --config heck.yaml`; ask with `pnpm heck-v1 status`.",
  )
  .showHelpAfterError();

program
  .command("run")
  .description("check the targets of a config file and serve the HTTP API (GET /v1/targets, /v1/events, /metrics, ...)")
  .option("--config <file>", 'JSON or YAML: { "defaults": { "intervalMs", "timeoutMs", "rise", "fall", ... }, "targets": [ { "id", "url", ... } ] }; without it, start empty and add targets through the API')
  .addOption(new Option("--listen <host:port>", "address of the HTTP API").default(hostPortArg("--listen")(DEFAULT_LISTEN), DEFAULT_LISTEN).argParser(hostPortArg("--listen")))
  .addOption(new Option("--seed <n>", "seed for the first-check spread (default: random)").argParser(intArg("--seed", 0, 2 ** 32 - 1)))
  .option("--quiet", "do not print transitions", false)
  .addOption(
    new Option(
      "--heap-growing-percent <n>",
      "let V8's heap grow to (1 + n/100) x its live size between full collections (about 230 MB instead of 450 MB RSS at 10,000 targets); 0 = Node's own heuristic",
    )
      .default(DEFAULT_HEAP_GROWING_PERCENT)
      .env("HECK_V1_HEAP_GROWING_PERCENT")
      .argParser(intArg("--heap-growing-percent", 0, 1000)),
  )
  .action(async (opts: { config?: string; listen: { host: string; port: number }; seed?: number; quiet: boolean; heapGrowingPercent: number }) => {
    // Before the targets exist, so the first mark-compact already uses it.
    setHeapGrowingPercent(opts.heapGrowingPercent);
    let config;
    if (opts.config !== undefined) {
      const loaded = await loadConfigFile(opts.config);
      if (!loaded.ok) fail(`invalid config ${opts.config}:\n  ${loaded.errors.join("\n  ")}`);
      config = loaded.value;
    }
    const engine = new CheckEngine({
      ...(config ? { defaults: config.defaults, maxConcurrentChecks: config.maxConcurrentChecks, historySize: config.historySize } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    });
    for (const t of config?.targets ?? []) engine.addSpec(t);
    let api: ApiServer;
    try {
      api = await ApiServer.start(engine, opts.listen.host, opts.listen.port);
    } catch (err) {
      await engine.stop();
      return fail((err as Error).message);
    }
    if (!opts.quiet) {
      engine.on("transition", (e) => {
        const t = e.transition;
        process.stdout.write(`${new Date(t.atMs).toISOString()}  ${t.id}  ${t.from} -> ${t.to}  ${t.reason}\n`);
      });
    }
    engine.start();
    process.stdout.write(`heck-v1: checking ${engine.stats().targets} targets; API on ${api.url} (GET /v1/targets, /v1/events, /metrics)\n`);
    onShutdownSignal(() => {
      void api
        .close()
        .then(() => engine.stop())
        .then(
          () => process.exit(EXIT_OK),
          () => process.exit(EXIT_FAILED),
        );
    });
  });

program
  .command("status")
  .description("print every target's status (a table, or JSON with --json)")
  .option("--unhealthy", "only unhealthy targets", false)
  .addOption(new Option("--status <status>", "only targets in this status").choices([...HEALTH_STATUSES]))
  .option("--json", "print the API's JSON array", false)
  .addOption(serverOption())
  .action(async (opts: { unhealthy: boolean; status?: HealthStatus; json: boolean; server: string }) => {
    const client = new CheckerClient(opts.server);
    const status = opts.unhealthy ? "unhealthy" : opts.status;
    const targets = await client.list(status);
    if (opts.json) {
      process.stdout.write(JSON.stringify(targets, null, 2) + "\n");
      return;
    }
    if (targets.length === 0) {
      process.stdout.write(status ? `no ${status} targets\n` : "no targets\n");
      return;
    }
    process.stdout.write(statusRows(targets).join("\n") + "\n");
    const by = (s: HealthStatus) => targets.filter((t) => t.status === s).length;
    if (!status) process.stdout.write(`\n${targets.length} targets: ${by("healthy")} healthy, ${by("unhealthy")} unhealthy, ${by("unknown")} unknown\n`);
  });

program
  .command("show")
  .description("print one target in full, with its transition history")
  .argument("<id>", "the target's id")
  .addOption(serverOption())
  .action(async (id: string, opts: { server: string }) => {
    const t = await new CheckerClient(opts.server).get(id);
    process.stdout.write(JSON.stringify(t, null, 2) + "\n");
  });

program
  .command("add")
  .description("add a target to a running checker (POST /v1/targets)")
  .argument("<id>", "a unique name, e.g. web-1")
  .argument("<url>", "http://..., https://... or tcp://host:port")
  .addOption(new Option("--interval-ms <ms>", "time between checks").argParser(intArg("--interval-ms", 10, 86_400_000)))
  .addOption(new Option("--timeout-ms <ms>", "per-check timeout").argParser(intArg("--timeout-ms", 1, 600_000)))
  .addOption(new Option("--rise <n>", "successes in a row to become healthy").argParser(intArg("--rise", 1, 100)))
  .addOption(new Option("--fall <n>", "failures in a row to become unhealthy").argParser(intArg("--fall", 1, 100)))
  .addOption(new Option("--method <m>", "HTTP method").choices(["GET", "HEAD"]))
  .option("--expected-status <list>", 'accepted statuses, e.g. "200-299,404"')
  .option("--body-contains <text>", "the body must contain this text")
  .option("--body-matches <regex>", "the body must match this regular expression")
  .option("--follow-redirects <n>", "follow up to n redirects (default: none)")
  .option("--no-tls-verify", "do not verify HTTPS certificates")
  .addOption(serverOption())
  .action(
    async (
      id: string,
      url: string,
      opts: {
        intervalMs?: number;
        timeoutMs?: number;
        rise?: number;
        fall?: number;
        method?: string;
        expectedStatus?: string;
        bodyContains?: string;
        bodyMatches?: string;
        followRedirects?: string;
        tlsVerify: boolean;
        server: string;
      },
    ) => {
      const target: Record<string, unknown> = { id, url };
      if (opts.intervalMs !== undefined) target["intervalMs"] = opts.intervalMs;
      if (opts.timeoutMs !== undefined) target["timeoutMs"] = opts.timeoutMs;
      if (opts.rise !== undefined) target["rise"] = opts.rise;
      if (opts.fall !== undefined) target["fall"] = opts.fall;
      if (opts.method !== undefined) target["method"] = opts.method;
      if (opts.expectedStatus !== undefined) target["expectedStatus"] = opts.expectedStatus.split(",").map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : s.trim()));
      if (opts.bodyContains !== undefined) target["bodyContains"] = opts.bodyContains;
      if (opts.bodyMatches !== undefined) target["bodyMatches"] = opts.bodyMatches;
      if (opts.followRedirects !== undefined) target["followRedirects"] = /^\d+$/.test(opts.followRedirects) ? Number(opts.followRedirects) : opts.followRedirects;
      if (!opts.tlsVerify) target["tlsVerify"] = false;
      const t = await new CheckerClient(opts.server).add(target);
      process.stdout.write(`added ${t.id} (${t.url}): every ${t.intervalMs} ms, timeout ${t.timeoutMs} ms, rise ${t.rise}, fall ${t.fall}; status ${t.status}\n`);
    },
  );

program
  .command("remove")
  .description("remove a target from a running checker (DELETE /v1/targets/:id)")
  .argument("<id>", "the target's id")
  .addOption(serverOption())
  .action(async (id: string, opts: { server: string }) => {
    const t = await new CheckerClient(opts.server).remove(id);
    process.stdout.write(`removed ${t.id} (was ${t.status})\n`);
  });

program
  .command("events")
  .description("print status transitions as they happen (the /v1/events stream) until Ctrl-C")
  .addOption(serverOption())
  .addOption(new Option("--duration-s <s>", "stop after this many seconds").argParser(intArg("--duration-s", 1, 86_400)))
  .action(async (opts: { server: string; durationS?: number }) => {
    const ac = new AbortController();
    onShutdownSignal(() => ac.abort());
    if (opts.durationS !== undefined) setTimeout(() => ac.abort(), opts.durationS * 1000).unref();
    await new CheckerClient(opts.server).events(
      (t) => process.stdout.write(`${t.at}  ${t.id}  ${t.from} -> ${t.to}  ${t.reason}\n`),
      ac.signal,
      // On stderr, so a pipe or a file gets only the transitions; the reader learns that nothing is missed from here on.
      () => process.stderr.write(`heck-v1: following the transitions of ${opts.server} (Ctrl-C stops)\n`),
    );
  });

program
  .command("demo")
  .description("start an embedded fleet (a few origins failing, slow, flapping, hanging, closed) and a checker, and show a live table")
  .addOption(new Option("--origins <n>", "origins in the embedded fleet").default(200).argParser(intArg("--origins", 1, 10_000)))
  .addOption(new Option("--interval-ms <ms>", "check interval").default(1000).argParser(intArg("--interval-ms", 10, 600_000)))
  .addOption(new Option("--timeout-ms <ms>", "check timeout").default(500).argParser(intArg("--timeout-ms", 1, 600_000)))
  .addOption(new Option("--rise <n>", "successes in a row to become healthy").default(2).argParser(intArg("--rise", 1, 100)))
  .addOption(new Option("--fall <n>", "failures in a row to become unhealthy").default(3).argParser(intArg("--fall", 1, 100)))
  .addOption(new Option("--listen <host:port>", "the checker's API").default(hostPortArg("--listen")(DEFAULT_LISTEN), DEFAULT_LISTEN).argParser(hostPortArg("--listen")))
  .addOption(new Option("--fleet-control <host:port>", "the fleet's control API").default(hostPortArg("--fleet-control")("127.0.0.1:13001"), "127.0.0.1:13001").argParser(hostPortArg("--fleet-control")))
  .addOption(new Option("--duration-s <s>", "stop after this many seconds (default: until Ctrl-C)").argParser(intArg("--duration-s", 1, 86_400)))
  .option("--no-chaos", "do not break a random origin every 5 s")
  .option("--plain", "print one summary line per second instead of redrawing a table (default when not a terminal)", false)
  .addOption(new Option("--seed <n>", "seed for which origins break").default(1).argParser(intArg("--seed", 0, 2 ** 32 - 1)))
  .action(
    async (opts: {
      origins: number;
      intervalMs: number;
      timeoutMs: number;
      rise: number;
      fall: number;
      listen: { host: string; port: number };
      fleetControl: { host: string; port: number };
      durationS?: number;
      chaos: boolean;
      plain: boolean;
      seed: number;
    }) => {
      const ac = new AbortController();
      onShutdownSignal(() => ac.abort());
      let summary;
      try {
        summary = await runDemo({
          origins: opts.origins,
          intervalMs: opts.intervalMs,
          timeoutMs: opts.timeoutMs,
          rise: opts.rise,
          fall: opts.fall,
          listen: opts.listen,
          fleetControl: opts.fleetControl,
          durationS: opts.durationS,
          chaos: opts.chaos,
          seed: opts.seed,
          out: process.stdout,
          tty: !opts.plain && process.stdout.isTTY === true,
          signal: ac.signal,
        });
      } catch (err) {
        const msg = (err as Error).message;
        fail(/EADDRINUSE/.test(msg) ? `${msg}\n  another demo or checker is using that port; pick others, e.g. --listen 127.0.0.1:0 --fleet-control 127.0.0.1:0` : msg, EXIT_FAILED);
      }
      process.stdout.write(
        `\ndemo over: ${summary.checks} checks of ${summary.origins} origins, ${summary.transitions} transitions; now ${summary.byStatus.healthy} healthy, ${summary.byStatus.unhealthy} unhealthy, ${summary.byStatus.unknown} unknown\n`,
      );
      process.exit(0);
    },
  );

program.parseAsync().catch((err: unknown) => fail((err as Error).message, EXIT_FAILED));
