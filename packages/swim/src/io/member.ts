/**
 * The embeddable API: start a SWIM member inside any Node.js process (the
 * `heck-swim agent` command and apps/v2's agent both use it).
 *
 * ```ts
 * const member = await startMember({ name: "agent-1", bind: "127.0.0.1:7946", seeds: ["127.0.0.1:7947"], meta: "api=127.0.0.1:8080" });
 * const stop = member.subscribe((e) => console.log(e.type, e.member.name));
 * console.log(member.members());
 * member.updateMeta("api=127.0.0.1:8081");
 * await member.leave();
 * await member.shutdown();
 * ```
 */
import { createPrng, type Address, type FaultControl } from "@heck/sim";
import { ENCRYPTION_OVERHEAD_BYTES, Keyring, openTransport, parseKey, SystemClock, type FaultInjectingTransport } from "@heck/sim/io";
import { presetConfig, resolveConfig, type PresetName, type SwimConfig } from "../core/config.ts";
import { resolveJoinRetryPolicy, type JoinRetryPolicy } from "../core/join-retry.ts";
import { parseIpPort } from "../core/memberlist/address.ts";
import { memberlistEncodedSize } from "../core/memberlist/translate.ts";
import { SwimNode, type JoinProgress, type SwimStats } from "../core/node.ts";
import type { MemberEvent, MemberInfo } from "../core/types.ts";
import { SwimDriver, type DriverCounters, type KeyRotation, type LogFn } from "./driver.ts";
import { MEMBERLIST_CRC_BYTES, MemberlistEndpoint } from "./memberlist-endpoint.ts";
import { MEMBERLIST_ENCRYPTION_OVERHEAD_BYTES, MemberlistKeyring, parseMemberlistKey } from "./memberlist-keyring.ts";

/** The wire formats a member can speak on its bind address. */
export type WireName = "heck" | "memberlist";

/** How to start a member. Every field is optional. */
export interface StartMemberOptions {
  /** Unique name in the cluster. Default: the advertised address. */
  name?: string;
  /** "host:port" to listen on for UDP and TCP; port 0 picks a free one. Default "127.0.0.1:0". */
  bind?: string;
  /** Host to advertise when binding 0.0.0.0. Default: the bind host. */
  advertiseHost?: string;
  /** Addresses of existing members to join through; empty starts a new cluster. */
  seeds?: readonly string[];
  /** Application metadata (at most 512 bytes); a string is stored as UTF-8. */
  meta?: Uint8Array | string;
  /** Base timings. Default "lan". */
  preset?: PresetName;
  /** Overrides on top of the preset (validated; a bad field throws a ConfigError naming it). */
  config?: Partial<SwimConfig>;
  /**
   * "heck" (default): heck's compact codec. "memberlist": hashicorp/memberlist
   * 0.2.2's wire, so Go memberlist nodes can be in the cluster (the bind or
   * advertised host must then be an IP address).
   */
  wire?: WireName;
  /** memberlist's wire only: LZW-compress what we send, as memberlist's EnableCompression (we read it either way). Default false. */
  compress?: boolean;
  /**
   * Keys, primary first, as bytes or base64. Omit for no encryption. heck's
   * wire: AES-256 (32 bytes); memberlist's: 16, 24 or 32 bytes, as memberlist
   * accepts.
   */
  keys?: ReadonlyArray<Uint8Array | string>;
  /** Seed for the member's random choices. Default: random. */
  seed?: number;
  /** Log sink. Default: none. */
  log?: LogFn;
}

/** Everything a stats endpoint shows. */
export interface MemberStats extends SwimStats {
  name: string;
  addr: Address;
  incarnation: number;
  driver: DriverCounters;
  openStreams: number;
  /** The wire this member speaks. */
  wire: WireName;
  /**
   * Input dropped because it failed to decode, since start: `swim`, packets
   * and stream frames (`driver.decodeErrors`, plus TCP connections whose
   * framing was not heck's; what encryption refused is counted apart, in
   * `driver`); `api`, HTTP API requests refused with 400 or 413 or that were
   * not HTTP (0 without an API).
   */
  malformed: { swim: number; api: number };
}

/** A running member. Create it with {@link startMember}. */
export class SwimMember {
  private malformedRequests = 0;

  /** @internal use {@link startMember} */
  constructor(
    private readonly driver: SwimDriver,
    private readonly transport: FaultInjectingTransport,
  ) {}

  /** Counts one request the member's HTTP API refused as malformed (shown in `stats().malformed.api`). */
  countMalformedRequest(): void {
    this.malformedRequests += 1;
  }

  /** This member's name. */
  get name(): string {
    return this.driver.node.name;
  }

  /** The address other members reach it at ("host:port"). */
  get address(): Address {
    return this.transport.localAddress;
  }

  /** Every member this one knows (itself included), sorted by name. */
  members(): MemberInfo[] {
    return this.driver.node.members();
  }

  /** One member by name. */
  member(name: string): MemberInfo | undefined {
    return this.driver.node.member(name);
  }

  /** Calls `listener` for every membership change; returns the unsubscribe function. */
  subscribe(listener: (event: MemberEvent) => void): () => void {
    return this.driver.subscribe(listener);
  }

  /** Joins (more) members through `seeds`, one attempt; rejects if none answered. */
  async join(seeds: readonly string[]): Promise<JoinProgress> {
    const progress = await this.driver.join(seeds);
    if (seeds.length > 0 && progress.succeeded.length === 0) throw new Error(`join: none of ${seeds.join(", ")} answered${this.driver.joinHint(seeds)}`);
    return progress;
  }

  /**
   * Joins through `seeds` like Consul's `retry_join`: an attempt in which no
   * seed answers is repeated, backing off from `initialIntervalMs` (1 s) to
   * `maxIntervalMs` (30 s), until one answers. Rejects only when
   * `maxAttempts` (default 0: unlimited) run out, or the member stops.
   */
  async retryJoin(seeds: readonly string[], policy: Partial<JoinRetryPolicy> = {}): Promise<JoinProgress> {
    const resolved = resolveJoinRetryPolicy(policy);
    const progress = await this.driver.join(seeds, resolved);
    if (progress.retry !== "joined" && !(progress.retry === "none" && progress.pending === 0 && seeds.every((s) => s === this.address))) {
      const why = progress.retry === "gave-up" ? `after ${progress.attempts} attempt(s)` : "before the member stopped";
      throw new Error(`join: none of ${seeds.join(", ")} answered ${why}${this.driver.joinHint(seeds)}`);
    }
    return progress;
  }

  /** Publishes new metadata to the cluster (raises this member's incarnation). */
  updateMeta(meta: Uint8Array | string): void {
    const bytes = typeof meta === "string" ? new TextEncoder().encode(meta) : meta;
    this.driver.step((node, now) => node.updateMeta(bytes, now));
  }

  /** Leaves gracefully: others record "left", not a failure. Resolves when the goodbye is out (or after `timeoutMs`). */
  leave(timeoutMs = 5000): Promise<boolean> {
    return this.driver.leave(timeoutMs);
  }

  /** Stops the member without a goodbye (others will detect it as failed). */
  shutdown(): Promise<void> {
    return this.driver.stop();
  }

  /** The keyring, when encryption is on: install/use/remove keys for rotation. */
  get keyring(): KeyRotation | undefined {
    return this.driver.keyring;
  }

  /** The wire this member speaks on its bind address. */
  get wire(): WireName {
    return this.driver.endpoint.wire;
  }

  /** Parses a base64 key as this member's wire accepts it (throws a KeyringError naming the problem). */
  parseKey(text: string): Uint8Array {
    return this.driver.endpoint.parseKey(text);
  }

  /** Runtime fault switches (drop rate, blocked peers), for tests and demos. */
  get faults(): FaultControl {
    return this.transport;
  }

  /** Counters from the protocol and the edge. */
  stats(): MemberStats {
    const node = this.driver.node;
    return { name: node.name, addr: this.address, incarnation: node.incarnation, ...node.stats(), driver: this.driver.counters, openStreams: this.driver.openStreams, wire: this.wire, malformed: { swim: decodeErrorTotal(this.driver.counters) + this.transport.stats.malformedStreams, api: this.malformedRequests } };
  }
}

/** Packets and stream frames that failed to decode, whatever the reason. */
function decodeErrorTotal(counters: DriverCounters): number {
  return Object.values(counters.decodeErrors).reduce((sum: number, n) => sum + (n ?? 0), 0);
}

/**
 * Starts a member: binds UDP+TCP, and joins `seeds` if any. Rejects (after
 * closing the sockets) if the options are invalid or no seed answered.
 */
export async function startMember(options: StartMemberOptions = {}): Promise<SwimMember> {
  const config = resolveConfig(options.config ?? {}, presetConfig(options.preset ?? "lan"));
  const bind = parseBind(options.bind ?? "127.0.0.1:0");
  const wire = options.wire ?? "heck";
  if (wire !== "heck" && wire !== "memberlist") throw new TypeError(`wire: must be "heck" or "memberlist", got ${JSON.stringify(wire)}`);
  if (options.compress === true && wire !== "memberlist") throw new TypeError("compress: only memberlist's wire compresses (heck's codec is already compact)");
  const memberlist = wire === "memberlist";
  const parse = memberlist ? parseMemberlistKey : parseKey;
  const keys = (options.keys ?? []).map((k) => (typeof k === "string" ? parse(k) : k));
  const keyring = keys.length > 0 && !memberlist ? new Keyring(keys) : undefined;
  const memberlistKeyring = keys.length > 0 && memberlist ? new MemberlistKeyring(keys) : undefined;
  const meta = typeof options.meta === "string" ? new TextEncoder().encode(options.meta) : (options.meta ?? new Uint8Array(0));
  const seed = options.seed ?? Math.floor(Math.random() * 0x100000000);
  const prng = createPrng(seed);
  const transport = await openTransport({
    host: bind.host,
    port: bind.port,
    ...(options.advertiseHost !== undefined ? { advertiseHost: options.advertiseHost } : {}),
    // memberlist's streams are bare TCP connections carrying one exchange each.
    ...(memberlist ? { streams: "raw" as const } : {}),
    faults: { prng: prng.fork("faults") },
  });
  const clock = new SystemClock();
  let driver: SwimDriver | undefined;
  try {
    if (memberlist && parseIpPort(transport.localAddress) === undefined) {
      throw new TypeError(`wire memberlist: the advertised address must be an IP address (memberlist carries addresses as IP bytes), got ${transport.localAddress}`);
    }
    const name = options.name ?? transport.localAddress;
    const node = new SwimNode({
      name,
      addr: transport.localAddress,
      meta,
      config,
      prng: prng.fork("node"),
      nowMs: clock.nowMs(),
      // memberlist ignores an alive message about a member it does not know unless its incarnation
      // is above 0 (a new entry starts at 0 and only a higher claim wins), and starts its own at 1.
      ...(memberlist ? { incarnation: 1 } : {}),
      packetOverheadBytes: memberlist
        ? MEMBERLIST_CRC_BYTES + (memberlistKeyring !== undefined ? MEMBERLIST_ENCRYPTION_OVERHEAD_BYTES : 0)
        : keyring !== undefined
          ? ENCRYPTION_OVERHEAD_BYTES
          : 0,
      ...(memberlist ? { sizeOf: memberlistEncodedSize } : {}),
    });
    driver = new SwimDriver({
      node,
      transport,
      clock,
      ...(keyring ? { keyring } : {}),
      ...(memberlist
        ? {
            endpoint: (counters: DriverCounters) =>
              new MemberlistEndpoint({
                transport,
                clock,
                counters,
                selfName: name,
                streamTimeoutMs: config.streamTimeoutMs,
                compress: options.compress ?? false,
                ...(memberlistKeyring !== undefined ? { keyring: memberlistKeyring } : {}),
              }),
          }
        : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    driver.start();
    const member = new SwimMember(driver, transport);
    if (options.seeds !== undefined && options.seeds.length > 0) await member.join(options.seeds);
    return member;
  } catch (e) {
    if (driver !== undefined) await driver.stop();
    else await transport.close();
    clock.clearAll();
    throw e;
  }
}

/** Parses "host:port" or "[v6]:port" where port may be 0 (any free port); throws a TypeError naming the field. */
export function parseBind(bind: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(bind) ?? /^([^:]+):(\d+)$/.exec(bind);
  if (m === null) throw new TypeError(`bind: must look like "host:port", got ${JSON.stringify(bind)}`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port > 65535) throw new TypeError(`bind: port must be 0-65535, got ${m[2]}`);
  return { host: m[1]!, port };
}
