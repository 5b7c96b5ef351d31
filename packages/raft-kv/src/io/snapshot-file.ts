/**
 * Snapshot files (Raft dissertation ch. 5): the state machine's bytes plus the
 * metadata that says which log prefix they replace. One file per snapshot,
 * `<dir>/<term>-<index>.snap` (16 hex digits each), written to a temporary
 * name, fsynced and renamed, so a crash leaves either the old set of files
 * or the new one, never a half-written snapshot under a real name.
 *
 * The bytes of a file are `encodeSnapshotFile`'s (src/core/raft/storage-format.ts),
 * which the simulation keeps on its simulated disk.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fsyncDir, fsyncDirAsync } from "@heck/sim/io";
import type { Snapshot } from "../core/raft/index.ts";
import { SnapshotCorruptionError, decodeSnapshotFile, encodeSnapshotFile } from "../core/raft/storage-format.ts";

export { SnapshotCorruptionError } from "../core/raft/storage-format.ts";

/** zlib's native CRC-32: the same function as storage-format's, faster on megabytes. */
const checksum = (bytes: Uint8Array): number => zlib.crc32(bytes);

function fileName(term: number, index: number): string {
  return `${term.toString(16).padStart(16, "0")}-${index.toString(16).padStart(16, "0")}.snap`;
}

/** Reads and writes snapshot files in one directory. */
export class SnapshotStore {
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    for (const name of fs.readdirSync(dir)) if (name.endsWith(".snap.tmp")) fs.rmSync(path.join(dir, name), { force: true });
  }

  private encode(snapshot: Snapshot): { file: string; buf: Uint8Array } {
    return { file: path.join(this.dir, fileName(snapshot.metadata.term, snapshot.metadata.index)), buf: encodeSnapshotFile(snapshot, checksum) };
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
    fsyncDir(this.dir);
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
    await fsyncDirAsync(this.dir);
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
    return decodeSnapshotFile(buf, file, index, term, checksum);
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
