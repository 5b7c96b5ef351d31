/**
 * Gossip encryption in real processes: two nodes started with the same key
 * (`heck-crdt node --key`) converge; a third with a different key is
 * refused by both (its packets and frames do not open and are counted),
 * learns nothing from them, and changes nothing of theirs. Ports 17600-17619 belong to this file.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { generateKey } from "@heck/sim/io";
import { request } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { eventually, runCli, startCli, stop } from "./support/procs.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-enc-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Status {
  vector: Record<string, number>;
  encryption: { enabled: boolean; decryptFailures: number; notEncrypted: number };
}
const json = async <T>(url: string, init?: Parameters<typeof request>[1]): Promise<T> => (await (await request(url, init)).body.json()) as T;

describe("gossip encryption (--key)", () => {
  it("nodes sharing a key converge; a node with another key is refused, counted, and corrupts nothing", async () => {
    const shared = generateKey();
    const other = generateKey();
    const gossip = [17605, 17606, 17607].map((p) => `127.0.0.1:${p}`);
    const start = (i: number, keys: string[]) =>
      startCli([
        "node", "--id", `n${i + 1}`, "--data-dir", path.join(tmp, `n${i + 1}`), "--port", String(17605 + i), "--http-port", String(17600 + i),
        "--peers", gossip.filter((_, j) => j !== i).join(","), "--sync-interval-ms", "50", "--json",
        ...keys.flatMap((k) => ["--key", k]),
      ]);
    // n2 holds a keyring of two (a rotation in progress: a new key installed, the shared one still primary).
    const procs = await Promise.all([start(0, [shared]), start(1, [shared, generateKey()]), start(2, [other])]);
    const http = procs.map((p) => `http://${(JSON.parse(p.line) as { http: string }).http}`);
    try {
      await json(`${http[0]}/v1/kv/a`, { method: "PUT", body: "from-n1" });
      await json(`${http[2]}/v1/kv/intruder`, { method: "PUT", body: "from-n3" });
      expect(await eventually(async () => (await json<{ value?: string }>(`${http[1]}/v1/kv/a`)).value === "from-n1", 10_000)).toBe(true);
      // Give the wrong-key node many rounds to try.
      expect(await eventually(async () => (await json<Status>(`${http[0]}/v1/status`)).encryption.decryptFailures >= 5, 10_000)).toBe(true);
      const s = await Promise.all(http.map((h) => json<Status>(`${h}/v1/status`)));
      expect(s.map((x) => x.encryption.enabled)).toEqual([true, true, true]);
      expect(s[1]!.encryption.decryptFailures).toBeGreaterThan(0);
      expect(s[2]!.encryption.decryptFailures).toBeGreaterThan(0);
      // n3's write reached nobody, and n3 learned nothing.
      expect(s[0]!.vector).toEqual({ n1: 1 });
      expect(s[1]!.vector).toEqual({ n1: 1 });
      expect(s[2]!.vector).toEqual({ n3: 1 });
      expect((await json<{ exists: boolean }>(`${http[0]}/v1/kv/intruder`)).exists).toBe(false);
      expect((await json<{ exists: boolean }>(`${http[2]}/v1/kv/a`)).exists).toBe(false);
    } finally {
      await Promise.all(procs.map((p) => stop(p.child)));
    }
  }, 40_000);

  it("refuses a malformed key with a message naming the flag, exit 2 (called wrong)", async () => {
    const r = await runCli(["node", "--id", "x", "--data-dir", path.join(tmp, "bad"), "--key", "not-base64!"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--key: keys\[0\]: key: must be base64/);
    const short = await runCli(["cluster", "up", "--nodes", "1", "--data-dir", path.join(tmp, "bad2"), "--key", Buffer.alloc(16).toString("base64")]);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/must decode to 32 bytes/);
  }, 30_000);
});
