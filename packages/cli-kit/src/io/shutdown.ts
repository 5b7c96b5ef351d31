import { constants } from "node:os";

/** Options for {@link onShutdownSignal}. */
export interface ShutdownOptions {
  /** The signals that ask for a graceful stop. Default SIGINT (Ctrl-C) and SIGTERM (`kill`, systemd, `heck cluster up`). */
  signals?: NodeJS.Signals[];
  /**
   * A different signal this soon after the first is the same request, not a
   * second one. pnpm relays a Ctrl-C: the terminal sends SIGINT to the whole
   * process group, pnpm included, and pnpm then sends SIGTERM to its child a
   * millisecond later and exits. Without the window, `pnpm heck agent` would
   * read one Ctrl-C as two and skip its graceful leave. Default 2 s.
   */
  relayWindowMs?: number;
  /** Called instead of exiting when a second request forces the stop (tests). Default: exit 128 + the signal's number. */
  onForce?: (signal: NodeJS.Signals) => void;
}

/**
 * Runs `stop` on the first SIGINT or SIGTERM, once; a second request (the
 * same signal again, or any signal after the relay window) forces the exit,
 * as a second Ctrl-C does in most servers. Returns a function that removes
 * the handlers.
 */
export function onShutdownSignal(stop: (signal: NodeJS.Signals) => void, options: ShutdownOptions = {}): () => void {
  const signals = options.signals ?? ["SIGINT", "SIGTERM"];
  const windowMs = options.relayWindowMs ?? 2_000;
  const force = options.onForce ?? ((signal: NodeJS.Signals) => process.exit(128 + (constants.signals[signal] ?? 0)));
  let first: { signal: NodeJS.Signals; atMs: number } | undefined;
  const listener = (signal: NodeJS.Signals) => {
    const now = Date.now();
    if (first === undefined) {
      first = { signal, atMs: now };
      stop(signal);
      return;
    }
    if (signal !== first.signal && now - first.atMs < windowMs) return; // the same Ctrl-C, relayed by pnpm
    force(signal);
  };
  for (const s of signals) process.on(s, listener);
  return () => {
    for (const s of signals) process.off(s, listener);
  };
}
