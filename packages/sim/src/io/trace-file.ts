/**
 * JSONL trace files: a writer that appends {@link TraceEvent} lines (buffered,
 * so a busy node does not make a syscall per event) and readers that parse
 * them back, reporting bad lines instead of throwing on them.
 */
import * as fs from "node:fs";
import * as readline from "node:readline";
import { formatTraceLine, parseTraceLine } from "../core/trace.ts";
import type { TraceEvent } from "../core/types.ts";

/** Appends trace events to a file as JSON lines. */
export class TraceWriter {
  private buffer: string[] = [];
  private bufferedChars = 0;
  private readonly fd: number;
  private closed = false;

  /**
   * Opens (creating or, with `append`, extending) `path`.
   * @param flushChars buffered characters that trigger a write; default 64 KiB.
   */
  constructor(
    readonly path: string,
    options: { append?: boolean; flushChars?: number } = {},
  ) {
    this.fd = fs.openSync(path, options.append ? "a" : "w");
    this.flushChars = options.flushChars ?? 64 * 1024;
  }

  private readonly flushChars: number;

  /** Queues one event; writes when the buffer is full. */
  write(event: TraceEvent): void {
    if (this.closed) throw new Error(`TraceWriter(${this.path}) is closed`);
    const line = formatTraceLine(event) + "\n";
    this.buffer.push(line);
    this.bufferedChars += line.length;
    if (this.bufferedChars >= this.flushChars) this.flush();
  }

  /** Writes everything buffered (synchronously, so a crash report is never half-written). */
  flush(): void {
    if (this.buffer.length === 0) return;
    fs.writeSync(this.fd, this.buffer.join(""));
    this.buffer = [];
    this.bufferedChars = 0;
  }

  /** Flushes and closes the file (idempotent). */
  close(): void {
    if (this.closed) return;
    this.flush();
    fs.closeSync(this.fd);
    this.closed = true;
  }
}

/** Reads a whole trace file; bad lines come back as errors with their line numbers. */
export function readTraceFile(path: string): { events: TraceEvent[]; errors: string[] } {
  const events: TraceEvent[] = [];
  const errors: string[] = [];
  const lines = fs.readFileSync(path, "utf8").split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line.length === 0) return;
    const r = parseTraceLine(line);
    if (r.ok) events.push(r.event);
    else errors.push(`${path}:${i + 1}: ${r.error}`);
  });
  return { events, errors };
}

/** Streams a (possibly huge) trace file line by line. */
export async function* streamTraceFile(path: string): AsyncGenerator<{ event: TraceEvent } | { error: string }> {
  const rl = readline.createInterface({ input: fs.createReadStream(path, "utf8"), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of rl) {
    n++;
    const line = raw.trim();
    if (line.length === 0) continue;
    const r = parseTraceLine(line);
    yield r.ok ? { event: r.event } : { error: `${path}:${n}: ${r.error}` };
  }
}
