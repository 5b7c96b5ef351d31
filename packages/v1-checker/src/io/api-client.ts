import type { HealthStatus } from "../core/types.ts";
import type { TargetView, TransitionView } from "./api-server.ts";

/** The default address of `heck-v1 run` (and of the demo's checker): inside v1-checker's port range. */
export const DEFAULT_LISTEN = "127.0.0.1:13100";

/**
 * A client of a running checker's HTTP API, for the CLI's `status`, `add`,
 * `remove`, `show` and `events`. Errors carry the server's message (which
 * names the bad field) or say the checker is unreachable.
 */
export class CheckerClient {
  /** `baseUrl` like `http://127.0.0.1:13100`. */
  constructor(readonly baseUrl: string) {}

  /** `GET /v1/targets`, optionally filtered by status. */
  async list(status?: HealthStatus): Promise<TargetView[]> {
    return (await this.call("GET", `/v1/targets${status ? `?status=${status}` : ""}`)) as TargetView[];
  }

  /** `GET /v1/targets/:id`. */
  async get(id: string): Promise<TargetView> {
    return (await this.call("GET", `/v1/targets/${encodeURIComponent(id)}`)) as TargetView;
  }

  /** `POST /v1/targets`. */
  async add(target: Record<string, unknown>): Promise<TargetView> {
    return (await this.call("POST", "/v1/targets", target)) as TargetView;
  }

  /** `DELETE /v1/targets/:id`. */
  async remove(id: string): Promise<TargetView> {
    return (await this.call("DELETE", `/v1/targets/${encodeURIComponent(id)}`)) as TargetView;
  }

  /** Streams `GET /v1/events` transitions to `onTransition` until `signal` aborts or the server goes away; `onOpen` runs once the stream is connected. */
  async events(onTransition: (t: TransitionView & { url: string }) => void, signal?: AbortSignal, onOpen?: () => void): Promise<void> {
    const res = await this.fetch("/v1/events", { signal: signal ?? null });
    if (!res.ok || !res.body) throw new Error(`GET /v1/events: ${res.status}`);
    onOpen?.();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let sep: number;
        while ((sep = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, sep);
          buffer = buffer.slice(sep + 2);
          const data = block
            .split("\n")
            .filter((l) => l.startsWith("data: "))
            .map((l) => l.slice(6))
            .join("\n");
          if (/^event: transition$/m.test(block) && data) onTransition(JSON.parse(data) as TransitionView & { url: string });
        }
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(this.baseUrl + path, init);
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new Error(`cannot reach the checker at ${this.baseUrl} (${cause}); is \`heck-v1 run\` (or \`heck-v1 demo\`) running? Use --server to point elsewhere.`, { cause: err });
    }
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.fetch(path, {
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
    if (!res.ok) {
      const e = json as { error?: string; errors?: string[] };
      throw new Error(e.errors && e.errors.length > 1 ? e.errors.join("\n") : (e.error ?? `HTTP ${res.status}`));
    }
    return json;
  }
}
