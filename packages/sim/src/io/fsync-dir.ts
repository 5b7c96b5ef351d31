import * as fs from "node:fs";

/**
 * Fsyncs a directory, so that files created, renamed or removed in it
 * survive a power loss (POSIX makes a new name durable only when its
 * directory is synced). Throws what the OS throws.
 */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** {@link fsyncDir} on the thread pool, for callers that must not block the event loop. */
export async function fsyncDirAsync(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
