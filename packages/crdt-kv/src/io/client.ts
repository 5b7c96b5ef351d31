/**
 * A small HTTP client for the node API (the CLI's put/get/del/ls/status and
 * the partition/heal commands), on undici.
 */
import { request } from "undici";

/** A response: status and parsed JSON body. */
export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
}

/** Calls `method url` with an optional body; rejects only when the node cannot be reached. */
export async function call(method: "GET" | "PUT" | "DELETE" | "POST", url: string, body?: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  let res;
  try {
    res = await request(url, { method, ...(body !== undefined ? { body } : {}), headers, headersTimeout: 10_000, bodyTimeout: 10_000 });
  } catch (e) {
    throw new Error(`cannot reach ${new URL(url).origin}: ${(e as Error).message}`, { cause: e });
  }
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { error: `non-JSON response: ${text.slice(0, 200)}` };
  }
  return { status: res.statusCode, body: (parsed ?? {}) as Record<string, unknown> };
}

/** The URL of a key on a node. */
export function keyUrl(node: string, key: string, query: Record<string, string | undefined> = {}): string {
  const u = new URL(`${node.replace(/\/$/, "")}/v1/kv/${encodeURIComponent(key)}`);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}
