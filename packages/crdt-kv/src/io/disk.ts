/**
 * A node's data directory:
 *
 *   node.json      {"id": "a", "incarnation": "..."}: the replica this directory belongs to
 *   snapshot.json  the last snapshot (written to a temp file, fsynced, renamed, directory fsynced)
 *   wal.log        records since that snapshot, one per line: "<crc32 hex> <json>\n"
 *                  (the lines the node's Readies hand out: core/store/persistence.ts)
 *   LOCK           the pid of the process using the directory
 *
 * Durability contract: `append` returns only after the records are fsynced,
 * and the driver acknowledges a client's write only after that, so a write
 * that was acknowledged survives kill -9 (and power loss, as far as fsync
 * is honest). A crash mid-append leaves a torn last line; its checksum
 * fails and it is dropped on the next open (`parseWal`, shared with the
 * simulation's recovery), which is safe because that record was never
 * acknowledged. A bad checksum anywhere else means the file was damaged,
 * and opening refuses rather than silently losing data.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fsyncDir } from "@heck/sim/io";
import { parseWal, walText } from "../core/store/persistence.ts";

/** What a data directory held when opened. */
export interface Loaded {
  /** Chosen when the directory was created; a wiped directory gets a new one, which peers notice. */
  incarnation: string;
  snapshot: string | null;
  records: string[];
  /** True when a torn last record was dropped. */
  truncatedTail: boolean;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** An open data directory. Synchronous on purpose: records must be durable before the next step. */
export class DataDir {
  private walFd: number;
  /** Bytes appended to the WAL plus snapshots written, for status output. */
  bytesWritten = 0;

  private constructor(
    readonly dir: string,
    walFd: number,
  ) {
    this.walFd = walFd;
  }

  /**
   * Opens (creating if needed) `dir` for replica `id`: takes the lock, checks
   * the directory belongs to `id`, and loads the snapshot and WAL records.
   */
  static open(dir: string, id: string): { dataDir: DataDir; loaded: Loaded } {
    fs.mkdirSync(dir, { recursive: true });
    const lock = path.join(dir, "LOCK");
    let exists = false;
    try {
      const fd = fs.openSync(lock, "wx");
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      exists = true;
    }
    if (exists) {
      const holder = Number(fs.readFileSync(lock, "utf8").trim());
      if (Number.isInteger(holder) && holder !== process.pid && pidAlive(holder)) {
        throw new Error(`data dir ${dir} is in use by pid ${holder} (remove ${lock} if that process is gone)`);
      }
      fs.writeFileSync(lock, String(process.pid));
    }
    const identity = path.join(dir, "node.json");
    let incarnation: string;
    if (fs.existsSync(identity)) {
      let meta: { id?: unknown; incarnation?: unknown };
      try {
        meta = JSON.parse(fs.readFileSync(identity, "utf8")) as { id?: unknown; incarnation?: unknown };
      } catch (e) {
        throw new Error(`${identity} is not valid JSON`, { cause: e });
      }
      if (meta.id !== id) throw new Error(`data dir ${dir} belongs to replica ${JSON.stringify(meta.id)}, not ${JSON.stringify(id)}: reusing it under another id would reuse dots`);
      if (typeof meta.incarnation !== "string" || !/^[0-9a-z]{1,32}$/.test(meta.incarnation)) throw new Error(`${identity}: incarnation missing or malformed`);
      incarnation = meta.incarnation;
    } else {
      incarnation = randomBytes(8).toString("hex");
      fs.writeFileSync(identity, JSON.stringify({ id, incarnation }) + "\n");
      fsyncDir(dir);
    }
    const snapshotPath = path.join(dir, "snapshot.json");
    const snapshot = fs.existsSync(snapshotPath) ? fs.readFileSync(snapshotPath, "utf8") : null;
    const walPath = path.join(dir, "wal.log");
    const { records, truncatedTail, validBytes } = fs.existsSync(walPath) ? parseWal(fs.readFileSync(walPath, "utf8"), walPath) : { records: [], truncatedTail: false, validBytes: 0 };
    if (truncatedTail) fs.truncateSync(walPath, validBytes);
    const walFd = fs.openSync(walPath, "a");
    return { dataDir: new DataDir(dir, walFd), loaded: { incarnation, snapshot, records, truncatedTail } };
  }

  /** Appends WAL lines and fsyncs them (one fsync for the batch: group commit). */
  append(lines: readonly string[]): void {
    if (lines.length === 0) return;
    this.write(lines);
    this.sync();
  }

  /**
   * Appends WAL lines (`walLine` output, as a Ready hands them out) without
   * waiting for the disk (they reach the page cache, in order). Not durable
   * until a later {@link sync} or {@link syncAsync} returns: the driver
   * holds back what depends on them.
   */
  write(lines: readonly string[]): void {
    if (lines.length === 0) return;
    const text = walText(lines);
    fs.writeSync(this.walFd, text);
    this.bytesWritten += Buffer.byteLength(text);
  }

  /** Makes every record written so far durable; blocks the thread for the fsync. */
  sync(): void {
    fs.fsyncSync(this.walFd);
  }

  /**
   * Makes every record written so far durable on libuv's thread pool: the
   * event loop keeps running meanwhile (an fsync takes 0.1-200 ms on a busy
   * disk). Records written after the call are not covered.
   */
  syncAsync(done: (err: Error | null) => void): void {
    fs.fsync(this.walFd, done);
  }

  /** Replaces the snapshot atomically, then empties the WAL (the snapshot covers it). */
  writeSnapshot(text: string): void {
    const target = path.join(this.dir, "snapshot.json");
    const tmp = `${target}.tmp`;
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, target);
    fsyncDir(this.dir);
    // Only now is the WAL redundant. A crash before this point replays it on top
    // of the new snapshot, which is harmless: joins are idempotent. The same
    // descriptor is truncated (it appends, so the next record lands at 0), so an
    // fsync still running on the thread pool never sees it closed.
    fs.ftruncateSync(this.walFd, 0);
    fs.fsyncSync(this.walFd);
    this.bytesWritten += Buffer.byteLength(text);
  }

  /** Closes the WAL and releases the lock. */
  close(): void {
    try {
      fs.closeSync(this.walFd);
    } catch {
      // already closed
    }
    try {
      const lock = path.join(this.dir, "LOCK");
      if (fs.readFileSync(lock, "utf8").trim() === String(process.pid)) fs.unlinkSync(lock);
    } catch {
      // lock already gone
    }
  }
}
