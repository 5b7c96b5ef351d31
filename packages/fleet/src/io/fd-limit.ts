import { readFileSync } from "node:fs";

/**
 * The process's open-files limit (soft), read from /proc/self/limits on Linux.
 * Node has no getrlimit; elsewhere this returns `fallback`.
 */
export function openFilesLimit(fallback = 20_000): number {
  try {
    const text = readFileSync("/proc/self/limits", "utf8");
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(text);
    if (!m || m[1] === undefined) return fallback;
    return m[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(m[1]);
  } catch {
    return fallback;
  }
}

/** How many descriptors a process keeps for itself beyond listeners and connections (stdio, control API, timers' handles, a checker in the same process...). */
export const FD_RESERVE = 256;
