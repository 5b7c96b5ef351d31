/**
 * Durability: the WAL's torn-tail handling, the data directory's guards,
 * and the contract that matters: a write acknowledged over HTTP survives
 * kill -9 of the node process (snapshot plus WAL replay on restart).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { request } from "undici";
import { afterAll, describe, expect, it } from "vitest";
import { crc32, parseWal, walLine } from "../src/core/store/persistence.ts";
import { DataDir } from "../src/io/disk.ts";
import { startCli, stop } from "./support/procs.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "heck-crdt-persist-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const line = (r: string) => `${crc32(r).toString(16).padStart(8, "0")} ${r}\n`;

describe("the WAL", () => {
  it("drops a torn last record and keeps the rest", () => {
    const text = line('{"a":1}') + line('{"a":2}') + line('{"a":3}').slice(0, 7);
    const r = parseWal(text);
    expect(r.records).toEqual(['{"a":1}', '{"a":2}']);
    expect(r.truncatedTail).toBe(true);
    expect(r.validBytes).toBe(Buffer.byteLength(line('{"a":1}') + line('{"a":2}')));
  });
  it("refuses a damaged record followed by intact ones", () => {
    const bad = line('{"a":2}').replace("2", "9");
    expect(() => parseWal(line('{"a":1}') + bad + line('{"a":3}'))).toThrow(/record 2 is damaged/);
  });
  it("a data directory refuses another replica id and a live second user", () => {
    const dir = path.join(tmp, "guards");
    const { dataDir } = DataDir.open(dir, "a");
    dataDir.append([walLine("{}")]);
    expect(() => DataDir.open(dir, "b")).toThrow(/belongs to replica "a"/);
    fs.writeFileSync(path.join(dir, "LOCK"), String(process.ppid)); // a live process that is not us
    expect(() => DataDir.open(dir, "a")).toThrow(/in use by pid/);
    fs.writeFileSync(path.join(dir, "LOCK"), String(process.pid));
    dataDir.close();
    const again = DataDir.open(dir, "a");
    expect(again.loaded.records).toEqual(["{}"]);
    again.dataDir.close();
  });
});

describe("kill -9", () => {
  it("every acknowledged write survives a kill -9 and a restart", async () => {
    const dir = path.join(tmp, "node-a");
    const args = ["node", "--id", "a", "--data-dir", dir, "--http-port", "0", "--snapshot-every", "25", "--json"];
    const first = await startCli(args);
    const url = `http://${(JSON.parse(first.line) as { http: string }).http}`;
    const written: Record<string, string> = {};
    for (let i = 0; i < 60; i++) {
      const res = await request(`${url}/v1/kv/key-${i}`, { method: "PUT", body: `value-${i}` });
      expect(res.statusCode).toBe(200);
      await res.body.json();
      written[`key-${i}`] = `value-${i}`; // acknowledged: it must survive
    }
    await request(`${url}/v1/kv/key-7`, { method: "DELETE" }).then((r) => r.body.json());
    delete written["key-7"];
    await stop(first.child, "SIGKILL");
    expect(fs.existsSync(path.join(dir, "snapshot.json"))).toBe(true); // 60 records crossed the snapshot threshold

    const second = await startCli(args);
    const url2 = `http://${(JSON.parse(second.line) as { http: string }).http}`;
    try {
      const list = (await (await request(`${url2}/v1/kv?prefix=key-`)).body.json()) as { keys: string[] };
      expect(list.keys.sort()).toEqual(Object.keys(written).sort());
      for (const [k, v] of Object.entries(written)) {
        const r = (await (await request(`${url2}/v1/kv/${k}`)).body.json()) as { value: string };
        expect(r.value).toBe(v);
      }
      // The replica continues its own dot sequence instead of reusing dots.
      const put = (await (await request(`${url2}/v1/kv/after`, { method: "PUT", body: "x" })).body.json()) as { dot: string };
      expect(put.dot).toBe("a:62");
    } finally {
      expect(await stop(second.child, "SIGTERM")).toBe(0);
    }
  }, 30_000);
});
