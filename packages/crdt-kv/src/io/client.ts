/**
 * A small HTTP client for the node API (the CLI's put/get/del/ls/status and
 * the partition/heal commands), on the shared JSON client of `@heck/sim/http`.
 */
import { callJson, httpBaseOf, type JsonResponse } from "@heck/sim/http";

/** A response: status and parsed JSON body. */
export interface ApiResponse {
  status: number;
  body: Record<string, unknown>;
}

/** Calls `method url` with an optional body; rejects only when the node cannot be reached. */
export async function call(method: "GET" | "PUT" | "DELETE" | "POST", url: string, body?: string, headers: Record<string, string> = {}): Promise<ApiResponse> {
  let res: JsonResponse;
  try {
    res = await callJson(method, url, { ...(body !== undefined ? { body } : {}), headers });
  } catch (e) {
    throw new Error(`cannot reach ${new URL(url).origin}: ${(e as Error).message}`, { cause: e });
  }
  const parsed = res.json ? res.body : { error: `non-JSON response: ${res.text.slice(0, 200)}` };
  return { status: res.status, body: (parsed ?? {}) as Record<string, unknown> };
}

/**
 * The base URL of a node given as `host:port` (what `--json` lines carry)
 * or as `http://host:port`; anything else is used as given.
 */
export function nodeBase(node: string): string {
  return httpBaseOf(node) ?? node.replace(/\/$/, "");
}

/** The URL of a key on a node (`node` in either form, see {@link nodeBase}). */
export function keyUrl(node: string, key: string, query: Record<string, string | undefined> = {}): string {
  const u = new URL(`${nodeBase(node)}/v1/kv/${encodeURIComponent(key)}`);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, v);
  return u.toString();
}
