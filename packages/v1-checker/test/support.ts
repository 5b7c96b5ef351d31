import type { CheckEngine, HealthStatus } from "../src/index.ts";

/** Polls `cond` every 20 ms until it holds; fails with `what` after `timeoutMs` (a bound on the test, not an assertion about speed). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until target `id` has status `status`. */
export function waitForStatus(engine: CheckEngine, id: string, status: HealthStatus, timeoutMs = 10_000): Promise<void> {
  return waitFor(() => engine.get(id)?.status === status, `${id} to be ${status} (is ${engine.get(id)?.status})`, timeoutMs);
}
