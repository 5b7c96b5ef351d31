/**
 * `heck-net`: build a network lab, run commands on its hosts, and break the
 * network between them. Parsing and wiring only: the lab is src/io/lab.ts,
 * the faults src/core/faults.ts.
 *
 *   heck-net doctor                             what this machine offers, and what backs each fault
 *   heck-net up --hosts 3 [--names a,b,c]       build a lab and stay in the foreground (Ctrl-C tears it down)
 *   heck-net ls | run <host> -- <cmd...> | down | clean
 *   heck-net partition n1 n2,n3 | isolate n1 | cut n1 n2 | bridge n1 n2 n3
 *   heck-net impair --loss 10 --delay 200 --jitter 50 [--from n1] [--to n2,n3]
 *   heck-net loss 10% | delay 200ms --jitter 50ms | duplicate 1% | reorder 25% --delay 20ms
 *   heck-net heal [--cuts|--impairments]
 */
import { existsSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { EXIT_FAILED, EXIT_OK, exitCodesForUsageErrors, handleClosedPipes, onShutdownSignal } from "@heck/cli-kit";
import { describeFaults, parseDurationMs, parsePercent, type FaultState, type Impairment } from "./core/faults.ts";
import { MAX_HOSTS } from "./core/lab-plan.ts";
import { cleanLeftovers, destroyLabSync, LabUnsupportedError, NetLab } from "./io/lab.ts";
import { labDir, pidNamespace, readOwner } from "./io/state.ts";
import { delayQueueSupport, labSupport } from "./io/system.ts";

// `heck-net ls | head` closes the pipe early: that ends the output, it is no error.
handleClosedPipes();

function fail(message: string, code = EXIT_FAILED): never {
  process.stderr.write(`heck-net: ${message}\n`);
  process.exit(code);
}

const int = (flag: string, min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be an integer in ${min}..${max}`);
  return n;
};
const pct = (flag: string) => (v: string) => {
  const n = parsePercent(v);
  if (n === undefined) throw new InvalidArgumentError(`${flag} must be a percentage in 0..100 ("10" or "10%"), got ${JSON.stringify(v)}`);
  return n;
};
const ms = (flag: string) => (v: string) => {
  const n = parseDurationMs(v);
  if (n === undefined) throw new InvalidArgumentError(`${flag} must be a duration up to 60 s ("200", "200ms" or "1.5s"), got ${JSON.stringify(v)}`);
  return n;
};
const hostList = (v: string): string[] => v.split(",").map((s) => s.trim()).filter((s) => s.length > 0);

const program = exitCodesForUsageErrors(new Command("heck-net"))
  .description(
    "A network lab on one Linux machine: hosts are network namespaces on a bridge, each with its own address;\n" +
      "partitions, loss, delay, duplication and reordering between them come from the kernel. Needs root.",
  )
  .showHelpAfterError();

const labOption = () => new Option("--lab <k>", "which lab (default: the only one running)").argParser(int("--lab", 1, 254));

function attach(lab: number | undefined): NetLab {
  try {
    return NetLab.attach(lab);
  } catch (e) {
    return fail((e as Error).message);
  }
}

function printFaults(f: FaultState): void {
  process.stdout.write(`faults now: ${describeFaults(f).join("; ")}\n`);
}

async function change(lab: number | undefined, fn: (l: NetLab) => Promise<FaultState>): Promise<void> {
  const l = attach(lab);
  try {
    printFaults(await fn(l));
  } catch (e) {
    fail((e as Error).message);
  }
}

// ---- doctor ------------------------------------------------------------------

program
  .command("doctor")
  .description("what this machine offers for a lab, and which kernel mechanism backs each fault")
  .action(async () => {
    const s = labSupport();
    const yes = (v: unknown) => (v ? "yes" : "no");
    const lines = [
      `root                    ${yes(s.root)}`,
      `ip (iproute2)           ${s.ip ?? "missing"}`,
      `nft (nftables)          ${s.nft ?? "missing"}`,
      `tc (iproute2)           ${s.tc ?? "missing"}`,
      `iptables (NFQUEUE)      ${s.iptables ?? "missing"}`,
      `gcc + libnetfilter-queue-dev  ${s.gcc !== null && s.netfilterQueueHeaders ? "yes" : "missing"}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    if (!s.ok) fail(s.reason ?? "cannot build a lab");
    // The netem probe needs a namespace: build a one-host lab and look at the backend it picks.
    let lab: NetLab;
    try {
      lab = await NetLab.create({ hosts: ["probe"] });
    } catch (e) {
      return fail(`could not build a lab: ${(e as Error).message}`);
    }
    const backend = lab.backend;
    await lab.destroy();
    const dq = delayQueueSupport(s);
    process.stdout.write(
      [
        `sch_netem               ${backend === "netem" ? "yes" : "no (not in this kernel)"}`,
        ``,
        `fault                   made by`,
        `partition, cut, bridge  nftables drop rules in the sender's namespace`,
        ...(backend === "netem"
          ? [`loss, duplication       tc netem (per destination, under an htb filter)`, `delay, jitter, reorder  tc netem`]
          : [
              `loss                    nftables: numgen random mod 10000 < p drop`,
              `duplication             nftables: dup to <destination>`,
              `delay, jitter, reorder  ${dq === undefined ? "iptables NFQUEUE + heck-delay-queue (holds each packet's verdict)" : `unavailable: ${dq}`}`,
            ]),
        ``,
      ].join("\n"),
    );
  });

// ---- up / ls / down / clean / run ----------------------------------------------

program
  .command("up")
  .description("build a lab and stay in the foreground; Ctrl-C (or `heck-net down`) tears it down")
  .addOption(new Option("--hosts <n>", "number of hosts, named h1..hn").argParser(int("--hosts", 1, MAX_HOSTS)))
  .option("--names <list>", "host names instead of h1..hn, e.g. n1,n2,n3", hostList)
  .addOption(labOption())
  .addOption(new Option("--backend <kind>", "what makes loss, delay and duplication: netem, the NFQUEUE delay queue, or auto").choices(["auto", "netem", "queue"]).default("auto"))
  .addOption(new Option("--seed <n>", "seed of the delay queue's random draws").default(1).argParser(int("--seed", 0, 2 ** 31)))
  .option("--json", "print one JSON line { lab, subnet, root, backend, hosts: [ { name, netns, address } ] } when up", false)
  .action(async (o: { hosts?: number; names?: string[]; lab?: number; backend: "auto" | "netem" | "queue"; seed: number; json: boolean }) => {
    const hosts = o.names ?? (o.hosts !== undefined ? o.hosts : 3);
    let lab: NetLab;
    try {
      lab = await NetLab.create({ hosts, backend: o.backend, seed: o.seed, ...(o.lab !== undefined ? { index: o.lab } : {}), log: (l) => process.stderr.write(`heck-net: ${l}\n`) });
    } catch (e) {
      return fail((e as Error).message, e instanceof LabUnsupportedError ? 2 : 1);
    }
    if (o.json) {
      process.stdout.write(JSON.stringify({ lab: lab.name, subnet: lab.plan.subnet, root: lab.rootAddress, backend: lab.backend, hosts: lab.hosts.map(({ name, netns, address }) => ({ name, netns, address })) }) + "\n");
    } else {
      const first = lab.hosts[0]!;
      const second = lab.hosts[1] ?? first;
      const rest = lab.hosts.slice(1).map((h) => h.name).join(",");
      process.stdout.write(
        [
          `${lab.name}: ${lab.hosts.length} hosts on ${lab.plan.subnet}; this namespace is ${lab.rootAddress}; faults by ${lab.backend}`,
          ...lab.hosts.map((h) => `  ${h.name.padEnd(8)} ${h.address.padEnd(14)} ip netns exec ${h.netns} <command>`),
          ``,
          `Try:`,
          `  pnpm heck-net run ${first.name} -- ip -br addr`,
          ...(lab.hosts.length > 1
            ? [`  pnpm heck-net partition ${first.name} ${rest}      # ${first.name} cannot reach the others (this namespace still reaches all)`, `  pnpm heck-net cut ${second.name} ${first.name}                 # one way: ${second.name}'s packets to ${first.name} are lost`]
            : []),
          `  pnpm heck-net impair --loss 10 --delay 200 --jitter 50`,
          `  pnpm heck-net heal`,
          ``,
          `Ctrl-C tears the lab down.`,
          ``,
        ].join("\n"),
      );
    }
    // Ctrl-C (also relayed by pnpm as SIGTERM), SIGTERM or a closed terminal: tear the lab down once.
    onShutdownSignal(
      () => {
        lab.destroy().then(
          () => process.exit(EXIT_OK),
          () => process.exit(EXIT_FAILED),
        );
      },
      { signals: ["SIGINT", "SIGTERM", "SIGHUP"] },
    );
    setInterval(() => undefined, 1 << 30);
  });

program
  .command("ls")
  .description("labs on this machine: hosts, addresses, faults (leftovers of dead owners are marked)")
  .option("--json", "print the list as JSON", false)
  .action((o: { json: boolean }) => {
    const labs = NetLab.list();
    if (o.json) return void process.stdout.write(JSON.stringify(labs) + "\n");
    if (labs.length === 0) return void process.stdout.write("no labs\n");
    for (const l of labs) {
      process.stdout.write(`${l.name}  ${l.live ? `owner pid ${l.ownerPid}` : "LEFTOVER (owner gone; `pnpm heck-net clean` removes it)"}  backend ${l.backend ?? "?"}  this namespace ${l.rootAddress ?? "?"}\n`);
      for (const h of l.hosts) process.stdout.write(`  ${h.name.padEnd(8)} ${h.address.padEnd(14)} ${h.netns}\n`);
      process.stdout.write(`  faults: ${l.faults.join("; ")}\n`);
    }
  });

program
  .command("down")
  .description("tear a lab down (asks its owner to stop; removes it directly if the owner is gone)")
  .addOption(labOption())
  .action(async (o: { lab?: number }) => {
    const lab = attach(o.lab);
    const k = lab.plan.index;
    const owner = readOwner(k);
    if (owner !== undefined && owner.pidNs !== undefined && owner.pidNs !== pidNamespace()) {
      // Its pid means nothing in this PID namespace (signalling it could hit another process): remove it directly.
      destroyLabSync(k, () => undefined);
    } else if (owner !== undefined) {
      try {
        process.kill(owner.pid, "SIGTERM");
      } catch {
        destroyLabSync(k, () => undefined);
      }
    }
    const deadline = Date.now() + 30_000;
    while (existsSync(labDir(k))) {
      if (Date.now() > deadline) fail(`${lab.name}: its owner (pid ${owner?.pid}) did not tear it down within 30 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    process.stdout.write(`${lab.name}: torn down\n`);
  });

program
  .command("clean")
  .description("remove leftovers: labs whose owner is gone, and hecklab- namespaces no running lab claims")
  .action(() => {
    const s = labSupport();
    if (!s.ok) fail(s.reason ?? "cannot clean", 2);
    const removed = cleanLeftovers();
    process.stdout.write(removed.length === 0 ? "no leftovers\n" : `removed ${removed.join(", ")}\n`);
  });

program
  .command("run")
  .description("run a command on a host, in the foreground (`heck-net run n1 -- node server.js`); exits with its status")
  .argument("<host>", "host name")
  .argument("<command...>", "the command and its arguments (put -- before them)")
  .addOption(labOption())
  .action((host: string, command: string[], o: { lab?: number }) => {
    const lab = attach(o.lab);
    try {
      lab.host(host);
    } catch (e) {
      fail((e as Error).message);
    }
    const child = lab.spawn(host, command[0]!, command.slice(1), { stdio: "inherit" });
    // The child shares our process group, so a terminal's Ctrl-C reaches it directly: forwarding
    // SIGINT too would deliver it twice (a second Ctrl-C, which forces most servers to stop at once).
    // SIGTERM and SIGHUP are sent to us alone (by kill, or by pnpm relaying a Ctrl-C): pass them on.
    process.on("SIGINT", () => undefined);
    for (const sig of ["SIGTERM", "SIGHUP"] as const) process.on(sig, () => child.kill(sig));
    child.on("error", (e) => fail(`${command[0]}: ${e.message}`));
    child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
  });

// ---- faults --------------------------------------------------------------------

program
  .command("partition")
  .description('split the hosts into groups that cannot reach each other, e.g. "partition n1,n2 n3,n4,n5" (unlisted hosts form one more group); replaces earlier cuts')
  .argument("<groups...>", "comma-separated host lists")
  .addOption(labOption())
  .action((groups: string[], o: { lab?: number }) => change(o.lab, (l) => l.partition(groups.map(hostList))));

program
  .command("isolate")
  .description("cut one host off from every other host (this namespace still reaches it); replaces earlier cuts")
  .argument("<host>")
  .addOption(labOption())
  .action((host: string, o: { lab?: number }) => change(o.lab, (l) => l.isolate(host)));

program
  .command("cut")
  .description("one-way cut: packets from <from> to <to> are lost, the other direction still flows (adds to earlier cuts)")
  .argument("<from>", "host list")
  .argument("<to>", "host list")
  .addOption(labOption())
  .action((from: string, to: string, o: { lab?: number }) => change(o.lab, (l) => l.cutOneWay(hostList(from), hostList(to))));

program
  .command("bridge")
  .description("two sides that cannot reach each other and one host that reaches both; replaces earlier cuts")
  .argument("<left>", "host list")
  .argument("<bridge>", "the host in the middle")
  .argument("<right>", "host list")
  .addOption(labOption())
  .action((left: string, bridge: string, right: string, o: { lab?: number }) => change(o.lab, (l) => l.bridge(hostList(left), bridge, hostList(right))));

const linkOptions = (cmd: Command): Command =>
  cmd
    .option("--from <hosts>", "only links from these hosts (default all)", hostList)
    .option("--to <hosts>", "only links to these hosts (default all)", hostList)
    .addOption(labOption());

type LinkOpts = { from?: string[]; to?: string[]; lab?: number };
const links = (o: LinkOpts) => ({ ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) });

linkOptions(
  program
    .command("impair")
    .description("set loss, delay, jitter, duplication, reordering on links between hosts (fields not given keep their value)")
    .addOption(new Option("--loss <pct>", "packets lost").argParser(pct("--loss")))
    .addOption(new Option("--delay <ms>", "added one-way delay").argParser(ms("--delay")))
    .addOption(new Option("--jitter <ms>", "delay varies uniformly by up to this much either way").argParser(ms("--jitter")))
    .addOption(new Option("--duplicate <pct>", "packets sent twice").argParser(pct("--duplicate")))
    .addOption(new Option("--reorder <pct>", "packets sent at once, ahead of delayed ones (needs --delay)").argParser(pct("--reorder"))),
).action((o: LinkOpts & { loss?: number; delay?: number; jitter?: number; duplicate?: number; reorder?: number }) => {
  const c: Partial<Impairment> = {
    ...(o.loss !== undefined ? { lossPct: o.loss } : {}),
    ...(o.delay !== undefined ? { delayMs: o.delay } : {}),
    ...(o.jitter !== undefined ? { jitterMs: o.jitter } : {}),
    ...(o.duplicate !== undefined ? { duplicatePct: o.duplicate } : {}),
    ...(o.reorder !== undefined ? { reorderPct: o.reorder } : {}),
  };
  if (Object.keys(c).length === 0) fail("impair: give at least one of --loss, --delay, --jitter, --duplicate, --reorder");
  return change(o.lab, (l) => l.impair(c, links(o)));
});

// Each value is parsed before the lab is looked up, so a bad value is named even when no lab runs.
linkOptions(program.command("loss").description("lose this share of packets between hosts").argument("<pct>", 'e.g. "10%"')).action((p: string, o: LinkOpts) => {
  const lossPct = pct("<pct>")(p);
  return change(o.lab, (l) => l.impair({ lossPct }, links(o)));
});
linkOptions(
  program
    .command("delay")
    .description("delay packets between hosts")
    .argument("<ms>", 'e.g. "200ms"')
    .addOption(new Option("--jitter <ms>", "vary each delay by up to this much either way").argParser(ms("--jitter"))),
).action((d: string, o: LinkOpts & { jitter?: number }) => {
  const delayMs = ms("<ms>")(d);
  return change(o.lab, (l) => l.impair({ delayMs, ...(o.jitter !== undefined ? { jitterMs: o.jitter } : {}) }, links(o)));
});
linkOptions(program.command("duplicate").description("send this share of packets twice").argument("<pct>")).action((p: string, o: LinkOpts) => {
  const duplicatePct = pct("<pct>")(p);
  return change(o.lab, (l) => l.impair({ duplicatePct }, links(o)));
});
linkOptions(
  program
    .command("reorder")
    .description("send this share of packets at once, ahead of the rest, which wait --delay")
    .argument("<pct>")
    .addOption(new Option("--delay <ms>", "the delay the others wait (needed unless one is set already)").argParser(ms("--delay"))),
).action((p: string, o: LinkOpts & { delay?: number }) => {
  const reorderPct = pct("<pct>")(p);
  return change(o.lab, (l) => l.impair({ reorderPct, ...(o.delay !== undefined ? { delayMs: o.delay } : {}) }, links(o)));
});

program
  .command("heal")
  .description("remove every fault (or only cuts, or only impairments)")
  .option("--cuts", "only partitions and cuts", false)
  .option("--impairments", "only loss, delay, duplication, reordering", false)
  .addOption(labOption())
  .action((o: { cuts: boolean; impairments: boolean; lab?: number }) => change(o.lab, (l) => l.heal(o.cuts && !o.impairments ? "cuts" : o.impairments && !o.cuts ? "impairments" : "all")));

program.parseAsync().catch((e: unknown) => fail((e as Error).message));
