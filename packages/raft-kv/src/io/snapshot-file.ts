/**
 * Snapshot files (Raft dissertation ch. 5): the state machine's bytes plus the
 * metadata that says which log prefix they replace. One file per snapshot,
 * `<dir>/<term>-<index>.snap` (16 hex digits each), written to a temporary
 * name, fsynced and renamed, so a crash leaves either the old set of files
 * or the new one, never a half-written snapshot under a real name.
 *
 * Layout: magic | version | index | term | confState | data | u32 crc32 of
 * everything before it.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import type { Snapshot } from "../core/raft/index.ts";
import { Reader, Writer } from "../core/kv/wire.ts";
import { readConfState, writeConfState } from "./wal.ts";

const MAGIC = "heck-raft-snap";
const VERSION = 1;

/** A snapshot file is unreadable; the node refuses to start on it rather than lose data silently. */
export class SnapshotCorruptionError extends Error {
  override readonly name = "SnapshotCorruptionError";
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`snapshot file ${file} is corrupted: ${reason}`);
  }
}

function fileName(term: number, index: number): string {
  return `${term.toString(16).padStart(16, "0")}-${index.toString(16).padStart(16, "0")}.snap`;
}

/** Reads and writes snapshot files in one directory. */
export class SnapshotStore {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    for (const name of fs.readdirSync(dir)) if (name.endsWith(".snap.tmp")) fs.rmSync(path.join(dir, name), { force: true });
  }

  private encode(snapshot: Snapshot): { file: string; buf: Buffer } {
    const w = new Writer(snapshot.data.length + 512).string(MAGIC).uint(VERSION).uint(snapshot.metadata.index).uint(snapshot.metadata.term);
    writeConfState(w, snapshot.metadata.confState);
    w.bytes(snapshot.data);
    const body = w.finish();
    const buf = Buffer.allocUnsafe(body.length + 4);
    buf.set(body, 0);
    buf.writeUInt32LE(zlib.crc32(body), body.length);
    return { file: path.join(this.dir, fileName(snapshot.metadata.term, snapshot.metadata.index)), buf };
  }

  /** Writes a snapshot durably (tmp file, fsync, rename, fsync dir) and returns its path. */
  save(snapshot: Snapshot): string {
    const { file, buf } = this.encode(snapshot);
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, "w");
    try {
      let done = 0;
      while (done < buf.length) done += fs.writeSync(fd, buf, done, buf.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    const dfd = fs.openSync(this.dir, "r");
    fs.fsyncSync(dfd);
    fs.closeSync(dfd);
    return file;
  }

  /**
   * {@link save} with the writing, fsyncs and rename on the thread pool, so
   * the event loop keeps serving while megabytes go to disk. Resolves with
   * the path once the file is durable under its real name.
   */
  async saveAsync(snapshot: Snapshot): Promise<string> {
    const { file, buf } = this.encode(snapshot);
    const tmp = `${file}.tmp`;
    const fh = await fs.promises.open(tmp, "w");
    try {
      await fh.writeFile(buf);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, file);
    const dh = await fs.promises.open(this.dir, "r");
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
    return file;
  }

  /** Loads the snapshot with this index and term; throws {@link SnapshotCorruptionError} if missing or damaged. */
  load(index: number, term: number): Snapshot {
    const file = path.join(this.dir, fileName(term, index));
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (error) {
      throw new SnapshotCorruptionError(file, `the WAL names it but it cannot be read (${error instanceof Error ? error.message : String(error)})`);
    }
    if (buf.length < 4) throw new SnapshotCorruptionError(file, "file too short");
    const body = buf.subarray(0, buf.length - 4);
    if (zlib.crc32(body) !== buf.readUInt32LE(buf.length - 4)) throw new SnapshotCorruptionError(file, "CRC mismatch");
    try {
      const r = new Reader(body);
      if (r.string() !== MAGIC) throw new Error("bad magic");
      const version = r.uint();
      if (version !== VERSION) throw new Error(`unsupported version ${version}`);
      const idx = r.uint();
      const t = r.uint();
      const confState = readConfState(r);
      const data = r.bytes();
      if (idx !== index || t !== term) throw new Error(`file holds index ${idx} term ${t}, expected ${index}/${term}`);
      return { metadata: { index: idx, term: t, confState }, data };
    } catch (error) {
      throw new SnapshotCorruptionError(file, error instanceof Error ? error.message : String(error));
    }
  }

  /** Deletes all but the newest `keep` snapshot files (by index). */
  prune(keep: number): void {
    const files = fs
      .readdirSync(this.dir)
      .filter((n) => /^[0-9a-f]{16}-[0-9a-f]{16}\.snap$/.test(n))
      .sort((a, b) => parseInt(a.slice(17, 33), 16) - parseInt(b.slice(17, 33), 16));
    for (const n of files.slice(0, Math.max(0, files.length - keep))) fs.rmSync(path.join(this.dir, n), { force: true });
  }
}
