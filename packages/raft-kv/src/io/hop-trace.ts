/**
 * Opt-in timestamps of each write's hops through a server, for finding where
 * a put's latency goes (`npx tsx bench/profile.ts seq 2000 --hops` sets it up
 * and prints the table). Enabled by HECK_RAFT_HOPS=<dir>: each mark is a line
 * "stage index epochMicros" kept in memory and written to `<dir>/<pid>.hops`
 * when the process exits. Off by default: {@link hops} is null and the driver
 * skips every mark, so it costs nothing.
 *
 * Stages, by the log index of the Ready's last new entry:
 * leader `prop` (proposed), `sent` (appends handed to the sockets), `written`
 * (WAL write returned), `synced` (fdatasync done), `ack:<id>` (a follower's
 * acknowledgement arrived), `commitReady`, `applied`; follower `recv`,
 * `written`, `synced`, `acked` (acknowledgement sent); and by unary call
 * number in the gRPC server, `gin` (request received), `gout` (handler
 * answered), `gdone` (response handed to HTTP/2), `gwrote` (HTTP/2 wrote its
 * headers and message; Node sends the trailers a turn of the event loop later).
 */
import fs from "node:fs";
import path from "node:path";

/** Collects marks in memory; the file is written once, at exit, so tracing adds no I/O to the path it measures. */
export class HopTrace {
  private readonly lines: string[] = [];

  constructor(private readonly file: string) {
    process.on("exit", () => fs.writeFileSync(this.file, this.lines.join("\n") + "\n"));
  }

  /** Records that the write with log index (or call number) `index` reached `stage` now. Bounded: marks past 2 million are dropped. */
  mark(stage: string, index: number): void {
    if (this.lines.length < 2_000_000) this.lines.push(`${stage} ${index} ${Math.round((performance.timeOrigin + performance.now()) * 1000)}`);
  }
}

const dir = process.env.HECK_RAFT_HOPS;

/** This process's tracer, or null when HECK_RAFT_HOPS is not set. */
export const hops: HopTrace | null = dir ? new HopTrace(path.join(dir, `${process.pid}.hops`)) : null;
