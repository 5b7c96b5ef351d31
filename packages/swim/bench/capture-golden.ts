/**
 * `pnpm --filter @heck/swim golden:capture`: records what hashicorp/memberlist
 * 0.2.2 itself puts on the wire, for test/fixtures/memberlist-golden.json.
 *
 * Five Go members (bench/memberlist-node with -capture) play a scenario that
 * makes memberlist send every message type: joins (push-pull, compressed and
 * not, then alive gossip in CRC'd compounds), user messages on a packet (one
 * compressible, so LZW-compressed) and on a stream, a member cut off from
 * UDP (indirect pings, and the TCP fallback ping and its ack), a kill -9
 * (suspect, dead, nacks), a graceful leave, an error reply to a stream it
 * cannot read, and an encrypted pair. For each kind the first message sent
 * is kept, as hex, with the names and addresses of the members and the key,
 * so the test can decode it, check what it says and re-encode it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeWirePacket, decodeWireStream } from "../src/core/memberlist/codec.ts";
import { GoMember, type Timings } from "./mixed-cluster.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, "../test/fixtures/memberlist-golden.json");
const dir = mkdtempSync(path.join(tmpdir(), "heck-golden-"));
const timings: Timings = { preset: "local", probeIntervalMs: 500, probeTimeoutMs: 250, gossipIntervalMs: 100 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const key = Buffer.alloc(32, 0x42).toString("base64");

const capture = (name: string): string => path.join(dir, `${name}.jsonl`);
const g1 = await GoMember.start({ name: "g1", timings, capture: capture("g1") });
const g2 = await GoMember.start({ name: "g2", timings, capture: capture("g2"), compress: false });
const g3 = await GoMember.start({ name: "g3", timings, capture: capture("g3") });
const e1 = await GoMember.start({ name: "e1", timings, capture: capture("e1"), keys: [key] });
const e2 = await GoMember.start({ name: "e2", timings, capture: capture("e2"), keys: [key], meta: "role=encrypted" });
const all = [g1, g2, g3, e1, e2];
try {
  g2.command(`join ${g1.addr}`);
  await sleep(500);
  g3.command(`join ${g1.addr}`);
  e2.command(`join ${e1.addr}`);
  await sleep(2000);
  await g1.run(`user ${g2.addr} a user message on a stream`);
  await g2.run(`user-packet ${g1.addr} a user message in a packet`);
  await g1.run(`user-packet ${g2.addr} ${"compressible ".repeat(20)}`);
  await g1.run(`meta role=updated`);
  // An error reply: g1 has no keyring, and this stream claims to be encrypted.
  await new Promise<void>((resolve) => {
    const [host, port] = g1.addr.split(":") as [string, string];
    const s = net.connect(Number(port), host, () => s.write(Buffer.from([10, 0, 0, 0, 0])));
    s.on("data", () => s.destroy());
    s.on("close", () => resolve());
    setTimeout(() => s.destroy(), 2000);
  });
  // g1 hears nothing from g2 over UDP: its probes go indirect through g3, and to TCP.
  await g1.run(`mute ${g2.addr}`);
  await g2.run(`mute ${g1.addr}`);
  await sleep(3000);
  await g1.run("unblock");
  await g2.run("unblock");
  await sleep(1000);
  await g2.kill(); // suspect, dead, and nacks from g3 for g1's indirect probes
  await sleep(6000);
  await g3.leave(); // dead, from itself
  await sleep(1000);
} finally {
  for (const m of all) await m.kill();
}

interface Recorded {
  dir: "in" | "out";
  kind: "packet" | "stream";
  peer: string;
  hex: string;
}
/**
 * The kind of a recorded message, e.g. "packet crc compound" or "stream
 * compressed push-pull". Classifying uses our decoder; the test checks each
 * fixture's content on its own.
 */
function classify(r: Recorded, encrypted: boolean): string {
  if (encrypted) return `${r.kind} encrypted`;
  const bytes = new Uint8Array(Buffer.from(r.hex, "hex"));
  const limits = { maxBytes: 1 << 20 };
  if (r.kind === "packet") {
    const d = decodeWirePacket(bytes, limits);
    if (!d.ok) return `packet undecodable ${d.error.message}`;
    const m = d.message.type === "compress" ? d.message.inner : d.message;
    // A dead message about its own sender is a graceful leave.
    const type = m.type === "dead" && m.node === m.from ? "dead (leave)" : m.type;
    return ["packet", d.crc ? "crc" : "", d.message.type === "compress" ? "compressed" : "", type].filter((x) => x !== "").join(" ");
  }
  const d = decodeWireStream(bytes, undefined, limits);
  if (d.status !== "complete") return `stream undecodable ${d.status}`;
  return ["stream", d.compressed ? "compressed" : "", d.message.type].filter((x) => x !== "").join(" ");
}

const fixtures: Array<{ name: string; kind: string; from: string; to: string; hex: string; key?: string }> = [];
const seen = new Set<string>();
for (const m of all) {
  const lines = readFileSync(capture(m.name), "utf8").split("\n").filter((l) => l.length > 0);
  for (const line of lines) {
    const r = JSON.parse(line) as Recorded;
    if (r.dir !== "out") continue;
    const name = classify(r, m.name.startsWith("e"));
    if (name.includes("undecodable")) throw new Error(`${m.name} sent something we cannot decode: ${name}: ${r.hex}`);
    if (seen.has(name)) continue;
    seen.add(name);
    fixtures.push({ name, kind: r.kind, from: m.name, to: r.peer, hex: r.hex, ...(m.name.startsWith("e") ? { key } : {}) });
  }
}
fixtures.sort((a, b) => (a.name < b.name ? -1 : 1));
const document = {
  about: "Messages hashicorp/memberlist 0.2.2 sent, recorded by bench/capture-golden.ts; decoded, checked and re-encoded by test/memberlist-golden.test.ts.",
  members: Object.fromEntries(all.map((m) => [m.name, m.addr])),
  fixtures,
};
writeFileSync(out, `${JSON.stringify(document, null, 1)}\n`);
console.log(`wrote ${fixtures.length} fixtures to ${path.relative(process.cwd(), out)}: ${fixtures.map((f) => f.name).join(", ")}`);
