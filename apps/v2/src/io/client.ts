/**
 * A small client of the agent API, for the CLI and the tests. Errors carry
 * the HTTP status and the server's message (which names the field).
 */

/** An API call that failed, with what the agent said. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Talks to one agent ("host:port" or a URL). */
export class AgentClient {
  readonly base: string;

  constructor(
    api: string,
    private readonly token = "",
    private readonly timeoutMs = 5_000,
  ) {
    this.base = api.startsWith("http") ? api.replace(/\/$/, "") : `http://${api}`;
  }

  /** Calls `method path` with an optional JSON body; resolves with the parsed JSON (undefined for 204). */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new ApiError(0, `cannot reach the agent at ${this.base} (${cause ?? (e as Error).message})`);
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let data: unknown = text;
    try {
      data = JSON.parse(text) as unknown;
    } catch {
      // plain text
    }
    if (!res.ok) throw new ApiError(res.status, typeof data === "object" && data !== null && "error" in data ? String((data as { error: unknown }).error) : `HTTP ${res.status}: ${text.slice(0, 200)}`);
    return data as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }
}
