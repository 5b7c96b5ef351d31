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

/** Errors of a connection closed by the other side before any answer came back. */
const CLOSED_BEFORE_ANSWER = new Set(["UND_ERR_SOCKET", "ECONNRESET"]);

const causeCode = (e: unknown): string | undefined => (e as { cause?: { code?: string } }).cause?.code;

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
    const send = () => fetch(`${this.base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(this.timeoutMs) });
    let res: Response;
    try {
      res = await send().catch((e: unknown) => {
        // A kept-alive connection the agent closed as idle just as this request went out
        // fails without an answer. A GET changes nothing, so it is sent once more on a
        // fresh connection, as Go's net/http does for idempotent requests.
        if (method === "GET" && CLOSED_BEFORE_ANSWER.has(causeCode(e) ?? "")) return send();
        throw e;
      });
    } catch (e) {
      throw new ApiError(0, `cannot reach the agent at ${this.base} (${causeCode(e) ?? (e as Error).message})`);
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
