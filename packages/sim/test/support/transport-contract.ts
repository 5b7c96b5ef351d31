/**
 * The transport contract suite: one set of behaviours every {@link Transport}
 * with {@link FaultControl} must show, run against the simulated network and
 * the real UDP/TCP transport (libp2p's "compliance tests" idea). A protocol
 * tested in simulation can then trust the real transport to behave the same.
 *
 * A harness hides the one real difference, time: the simulated harness steps
 * the SimNetwork clock, the real one waits on the event loop.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPrng } from "../../src/core/prng.ts";
import { SimNetwork } from "../../src/core/sim-network.ts";
import type { Address, FaultControl, Stream } from "../../src/core/types.ts";
import { SimTransport } from "../../src/io/sim-transport.ts";
import type { Transport } from "../../src/io/transport.ts";
import type { Keyring } from "../../src/io/keyring.ts";
import { openTransport } from "../../src/io/open-transport.ts";
import * as net from "node:net";

/** A transport under test: the Transport and FaultControl interfaces together. */
export type ControlledTransport = Transport & FaultControl;

/** How the suite creates transports and lets time pass for one implementation. */
export interface TransportHarness {
  /** Opens a fresh transport. */
  open(): Promise<ControlledTransport>;
  /** An address where nothing listens. */
  deadAddress(): Promise<Address>;
  /** Lets time pass until `cond()` holds; throws after `maxMs` (simulated or real). */
  waitFor(cond: () => boolean, maxMs: number, what: string): Promise<void>;
  /** Lets `ms` pass (simulated or real). */
  pass(ms: number): Promise<void>;
  /** Awaits `promise`, letting time pass meanwhile (a simulated dial needs the clock to move). */
  settle<T>(promise: Promise<T>, maxMs: number): Promise<T>;
  /** Closes everything the harness opened. */
  cleanup(): Promise<void>;
}

const drainMicrotasks = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A harness over one {@link SimNetwork}: addresses are "sim-1", "sim-2"... */
export function simHarness(seed = 1): TransportHarness {
  const network = new SimNetwork({ prng: createPrng(seed).fork("net"), latency: { minMs: 1, meanTailMs: 2 } });
  const opened: ControlledTransport[] = [];
  let next = 1;
  const waitFor = async (cond: () => boolean, maxMs: number, what: string): Promise<void> => {
    const limit = network.nowMs() + maxMs;
    await drainMicrotasks();
    while (!cond()) {
      if (network.nowMs() >= limit) throw new Error(`timed out after ${maxMs} simulated ms waiting for ${what}`);
      const t = Math.min(network.peekTime(), limit);
      network.advanceTo(Math.max(t, network.nowMs()));
      await drainMicrotasks();
    }
  };
  return {
    async open() {
      const t = new SimTransport(network, `sim-${next++}`);
      opened.push(t);
      return t;
    },
    async deadAddress() {
      return `sim-dead-${next++}`;
    },
    waitFor,
    async pass(ms) {
      await waitFor(() => false, ms, "").catch(() => {});
    },
    async settle<T>(promise: Promise<T>, maxMs: number): Promise<T> {
      let done = false;
      const tracked = promise.finally(() => (done = true));
      tracked.catch(() => {});
      await waitFor(() => done, maxMs, "a promise to settle");
      return tracked;
    },
    async cleanup() {
      for (const t of opened) await t.close();
    },
  };
}

/**
 * A harness over real UDP/TCP sockets on loopback, OS-assigned ports. With
 * `keyring`, each transport gets its own keyring from the factory (same keys:
 * the encrypted transport must pass the same contract).
 */
export function realHarness(options: { keyring?: () => Keyring } = {}): TransportHarness {
  const opened: ControlledTransport[] = [];
  return {
    async open() {
      const keyring = options.keyring?.();
      const t = await openTransport({ host: "127.0.0.1", port: 0, ...(keyring !== undefined ? { keyring } : {}), faults: { prng: createPrng(opened.length + 1) } });
      opened.push(t);
      return t;
    },
    async deadAddress() {
      // Bind a port, then free it: nothing listens there afterwards.
      const server = net.createServer();
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      const port = (server.address() as net.AddressInfo).port;
      await new Promise<void>((r) => server.close(() => r()));
      return `127.0.0.1:${port}`;
    },
    async waitFor(cond, maxMs, what) {
      const deadline = performance.now() + maxMs;
      while (!cond()) {
        if (performance.now() > deadline) throw new Error(`timed out after ${maxMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    async pass(ms) {
      await new Promise((r) => setTimeout(r, ms));
    },
    async settle<T>(promise: Promise<T>, maxMs: number): Promise<T> {
      let done = false;
      const tracked = promise.finally(() => (done = true));
      tracked.catch(() => {});
      await this.waitFor(() => done, maxMs, "a promise to settle");
      return tracked;
    },
    async cleanup() {
      for (const t of opened) await t.close();
    },
  };
}

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

/** Deterministic test payload of `n` bytes. */
function payload(n: number, salt: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + salt) & 0xff;
  return out;
}

/** Collects what a stream receives and how it ends. */
function record(stream: Stream): { frames: Uint8Array[]; closed: boolean; error: Error | undefined } {
  const r = { frames: [] as Uint8Array[], closed: false, error: undefined as Error | undefined };
  stream.onFrame((f) => r.frames.push(f));
  stream.onClose((e) => {
    r.closed = true;
    r.error = e;
  });
  return r;
}

/**
 * Registers the contract tests for one implementation. `makeHarness` is called
 * per test so each test gets fresh transports.
 */
export function describeTransportContract(name: string, makeHarness: () => TransportHarness): void {
  describe(`transport contract: ${name}`, () => {
    let h: TransportHarness;
    let a: ControlledTransport;
    let b: ControlledTransport;
    const inbox: Array<{ from: Address; payload: Uint8Array }> = [];
    const accepted: Stream[] = [];

    beforeEach(async () => {
      h = makeHarness();
      a = await h.open();
      b = await h.open();
      inbox.length = 0;
      accepted.length = 0;
      b.onPacket((from, p) => inbox.push({ from, payload: p }));
      b.onStream((s) => accepted.push(s));
      a.onStream(() => {});
    });

    afterEach(async () => {
      await h.cleanup();
    });

    it("sends packets that arrive whole, with the sender's advertised address", async () => {
      expect(a.localAddress).not.toBe(b.localAddress);
      a.sendPacket(b.localAddress, bytes(1, 2, 3));
      a.sendPacket(b.localAddress, payload(9000, 7));
      await h.waitFor(() => inbox.length === 2, 2000, "two packets");
      const sorted = [...inbox].sort((x, y) => x.payload.length - y.payload.length);
      expect(sorted[0]!.from).toBe(a.localAddress);
      expect([...sorted[0]!.payload]).toEqual([1, 2, 3]);
      expect(Buffer.from(sorted[1]!.payload).equals(Buffer.from(payload(9000, 7)))).toBe(true);
    });

    it("rejects a packet over maxPacketBytes and never throws for an unreachable peer", async () => {
      expect(() => a.sendPacket(b.localAddress, new Uint8Array(a.maxPacketBytes + 1))).toThrow(RangeError);
      const dead = await h.deadAddress();
      expect(() => a.sendPacket(dead, bytes(1))).not.toThrow();
      await h.pass(20);
    });

    it("carries stream frames whole and in order, both ways, and names the dialer", async () => {
      const s = await h.settle(a.dial(b.localAddress, 2000), 3000);
      expect(s.remoteAddress).toBe(b.localAddress);
      const client = record(s);
      await h.waitFor(() => accepted.length === 1, 2000, "an accepted stream");
      const server = accepted[0]!;
      expect(server.remoteAddress).toBe(a.localAddress);
      const got = record(server);
      const sizes = [0, 1, 3, 4, 5, 100, 1500, 65536, 200_000];
      for (let i = 0; i < 60; i++) s.send(payload(sizes[i % sizes.length]!, i));
      for (let i = 0; i < 20; i++) server.send(payload(i * 7, 100 + i));
      await h.waitFor(() => got.frames.length === 60 && client.frames.length === 20, 5000, "all frames");
      got.frames.forEach((f, i) => expect(Buffer.from(f).equals(Buffer.from(payload(sizes[i % sizes.length]!, i)))).toBe(true));
      client.frames.forEach((f, i) => expect(Buffer.from(f).equals(Buffer.from(payload(i * 7, 100 + i)))).toBe(true));
    });

    it("keeps frames that arrive before the receiver registers onFrame", async () => {
      const s = await h.settle(a.dial(b.localAddress, 2000), 3000);
      for (let i = 0; i < 5; i++) s.send(bytes(i));
      await h.waitFor(() => accepted.length === 1, 2000, "an accepted stream");
      await h.pass(50); // the frames arrive while nobody listens
      const got = record(accepted[0]!);
      await h.waitFor(() => got.frames.length === 5, 2000, "the early frames");
      expect(got.frames.map((f) => f[0])).toEqual([0, 1, 2, 3, 4]);
    });

    it("rejects a frame over maxFrameBytes", async () => {
      const s = await h.settle(a.dial(b.localAddress, 2000), 3000);
      expect(() => s.send(new Uint8Array(a.maxFrameBytes + 1))).toThrow(RangeError);
      s.close();
    });

    it("rejects a dial to an address where nothing listens", async () => {
      const dead = await h.deadAddress();
      let error: unknown;
      const p = a.dial(dead, 300).catch((e) => (error = e));
      await h.waitFor(() => error !== undefined, 2000, "the dial to fail");
      await p;
      expect(error).toBeInstanceOf(Error);
    });

    it("closes the other side when one side closes, after the frames already sent", async () => {
      const s = await h.settle(a.dial(b.localAddress, 2000), 3000);
      const client = record(s);
      await h.waitFor(() => accepted.length === 1, 2000, "an accepted stream");
      const server = record(accepted[0]!);
      s.send(bytes(9));
      s.close();
      s.close(); // idempotent
      await h.waitFor(() => server.closed && client.closed, 2000, "both sides to close");
      expect(server.frames.map((f) => [...f])).toEqual([[9]]);
      expect(server.error).toBeUndefined();
    });

    it("breaks its streams when the transport closes", async () => {
      const s = await h.settle(a.dial(b.localAddress, 2000), 3000);
      const client = record(s);
      await h.waitFor(() => accepted.length === 1, 2000, "an accepted stream");
      await b.close();
      await h.waitFor(() => client.closed, 2000, "the dialer's stream to close");
    });

    it("drops every packet at dropRate 1, none at 0, and reports its settings", async () => {
      b.setDropRate(1);
      expect(b.faults().dropRate).toBe(1);
      for (let i = 0; i < 10; i++) a.sendPacket(b.localAddress, bytes(i));
      await h.pass(50);
      expect(inbox.length).toBe(0);
      b.setDropRate(0);
      a.sendPacket(b.localAddress, bytes(42));
      await h.waitFor(() => inbox.length === 1, 2000, "a packet after dropRate 0");
      expect(() => b.setDropRate(1.5)).toThrow(/dropRate/);
    });

    it("blocks a peer both ways (packets, streams, dials) until unblocked", async () => {
      const s = await h.settle(a.dial(b.localAddress, 2000), 3000);
      const client = record(s);
      await h.waitFor(() => accepted.length === 1, 2000, "an accepted stream");
      const server = record(accepted[0]!);

      a.block([b.localAddress]);
      expect(a.faults().blocked).toEqual([b.localAddress]);
      await h.waitFor(() => client.closed && server.closed, 3000, "streams to break on block");
      expect(client.error).toBeInstanceOf(Error);

      a.sendPacket(b.localAddress, bytes(1));
      let aInbox = 0;
      a.onPacket(() => aInbox++);
      b.sendPacket(a.localAddress, bytes(2));
      let dialError: unknown;
      const p = a.dial(b.localAddress, 200).catch((e) => (dialError = e));
      await h.waitFor(() => dialError !== undefined, 3000, "the blocked dial to fail");
      await p;
      expect(inbox.length).toBe(0);
      expect(aInbox).toBe(0);

      a.unblock();
      expect(a.faults().blocked).toEqual([]);
      a.sendPacket(b.localAddress, bytes(3));
      b.sendPacket(a.localAddress, bytes(4));
      await h.waitFor(() => inbox.length === 1 && aInbox === 1, 2000, "packets after unblock");
      const again = await h.settle(a.dial(b.localAddress, 2000), 3000);
      again.close();
    });
  });
}
