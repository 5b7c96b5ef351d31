import { EXIT_OK } from "../exit-codes.ts";

/**
 * Makes a closed pipe the end of the output, not a crash: `heck-swim members
 * | head -3` closes the pipe after three lines, and the next write fails with
 * EPIPE, which Node raises as an unhandled 'error' event (a stack trace, exit
 * 1) because it ignores the SIGPIPE that would end a C program quietly.
 * `onClosed` runs once (default: exit 0, the reader has what it wanted); a
 * long-running command passes its graceful shutdown instead.
 */
export function handleClosedPipes(onClosed: () => void = () => process.exit(EXIT_OK)): void {
  let closed = false;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      if (closed) return;
      closed = true;
      onClosed();
    });
  }
}
