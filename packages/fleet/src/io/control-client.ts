import { httpBaseOf } from "@heck/sim/http";
import type { FleetStats, OriginSnapshot } from "./fleet.ts";

/**
 * A small client for a fleet's control API running in another process (the
 * benchmark starts `heck-fleet` as a child and drives it through this).
 * Uses the global fetch; every call throws an Error with the server's message
 * on a non-2xx answer.
 */
export class FleetClient {
  /** The control API's base URL, e.g. `http://127.0.0.1:12999`. */
  readonly baseUrl: string;

  /** `control` is the control API as `http://127.0.0.1:12999` or as `127.0.0.1:12999` (the form `--json` prints). */
  constructor(control: string) {
    this.baseUrl = httpBaseOf(control) ?? control;
  }

  /** Flips origin `i`, e.g. `setMode(3, { mode: "failing", status: 500 })`. */
  async setMode(i: number, behaviour: Record<string, unknown>): Promise<OriginSnapshot> {
    return (await this.call("PUT", `/origins/${i}`, behaviour)) as OriginSnapshot;
  }

  /** Flips many origins: `selection` is `{ indices }`, `{ from, to }` or `{ all: true }`. */
  async setMany(selection: { indices: number[] } | { from: number; to: number } | { all: true }, behaviour: Record<string, unknown>): Promise<number> {
    const out = (await this.call("PUT", "/origins", { ...behaviour, ...selection })) as { updated: number };
    return out.updated;
  }

  /** Every origin with its request count. */
  async origins(): Promise<OriginSnapshot[]> {
    return ((await this.call("GET", "/origins")) as { origins: OriginSnapshot[] }).origins;
  }

  /** Requests per origin, index-aligned. */
  async requestCounts(): Promise<number[]> {
    return ((await this.call("GET", "/origins/counts")) as { requests: number[] }).requests;
  }

  /** Fleet-wide figures. */
  async stats(): Promise<FleetStats> {
    return (await this.call("GET", "/stats")) as FleetStats;
  }

  /** Zeroes the counts. */
  async resetCounts(): Promise<void> {
    await this.call("POST", "/origins/reset-counts");
  }

  /** Every origin healthy, counts zeroed. */
  async reset(): Promise<void> {
    await this.call("POST", "/reset");
  }

  /** Resolves once the control API answers `/healthz`, polling every 100 ms up to `timeoutMs`. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        await this.call("GET", "/healthz");
        return;
      } catch (err) {
        if (performance.now() > deadline) throw new Error(`fleet control API at ${this.baseUrl} not ready after ${timeoutMs} ms: ${(err as Error).message}`, { cause: err });
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = { error: text };
    }
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${(json as { error?: string }).error ?? text}`);
    return json;
  }
}
