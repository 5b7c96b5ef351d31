// How far V8 lets the heap grow between two full collections: the one
// runtime setting `heck-v1 run` changes from Node's defaults (see the
// README, "Measured", for the A/B figures behind it).
import { setFlagsFromString } from "node:v8";

/**
 * What `heck-v1 run` sets unless told otherwise (`--heap-growing-percent`):
 * after each mark-compact the old generation may grow to 1.5x its live size
 * before the next, instead of V8's dynamic factor of 1.1 to 4, which under a
 * steady promotion rate sits near 4. At 10,000 targets (80 MB live) that is
 * about 230 MB RSS instead of 380 to 470 MB, for about four more
 * mark-compacts a minute, with no cap that a growing target list could hit.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 50;

/**
 * Sets V8's heap growing factor to 1 + percent/100 for this process; 0
 * restores V8's own heuristic. It takes effect at the next mark-compact (V8
 * reads the flag whenever it computes the next heap limit), so no restart or
 * command-line flag is needed, and it is the same as starting Node with
 * `--heap-growing-percent=<percent>`. Throws a RangeError naming the
 * setting for anything but an integer from 0 to 1000.
 */
export function setHeapGrowingPercent(percent: number): void {
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) throw new RangeError(`heapGrowingPercent must be an integer from 0 to 1000, got ${percent}`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
