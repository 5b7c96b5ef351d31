/**
 * The API client against a server that closes a connection before
 * answering, as an agent does with a kept-alive connection it has just
 * timed out as idle.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AgentClient, ApiError } from "../../src/io/client.ts";

let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** Serves `{"ok":true}`, but closes the first `dropFirst` requests' connections without answering. */
async function serve(dropFirst: number): Promise<{ api: string; requests: () => number }> {
  let seen = 0;
  server = createServer((req, res) => {
    seen += 1;
    if (seen <= dropFirst) {
      req.socket.destroy();
      return;
    }
    res.setHeader("content-type", "application/json");
    res.end('{"ok":true}');
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return { api: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests: () => seen };
}

describe("AgentClient", () => {
  it("sends a GET once more when the connection closes before any answer", async () => {
    const s = await serve(1);
    expect(await new AgentClient(s.api).get("/v1/members")).toEqual({ ok: true });
    expect(s.requests()).toBe(2);
  });

  it("gives up after the second close, naming the agent and the cause", async () => {
    const s = await serve(2);
    const err = await new AgentClient(s.api).get("/v1/members").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(new RegExp(`^cannot reach the agent at http://${s.api} \\((UND_ERR_SOCKET|ECONNRESET)\\)$`));
    expect(s.requests()).toBe(2);
  });

  it("never resends a request that changes something", async () => {
    const s = await serve(1);
    await expect(new AgentClient(s.api).call("POST", "/v1/origins", { id: "o1" })).rejects.toThrow(/cannot reach the agent/);
    expect(s.requests()).toBe(1);
  });
});
