/**
 * Serves the page on loopback: `/` is the HTML, `/scope.js` the bundle. The
 * stage, seed and actions travel in the URL's query, so one server serves
 * every stage and any run a learner shares.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { PageFiles } from "./bundle.ts";

/** A running server: its base URL, and how to stop it. */
export interface ScopeServer {
  readonly baseUrl: string;
  close(): Promise<void>;
}

/** Parses "host:port" (port 0 picks a free one). */
export function parseListen(text: string): { host: string; port: number } | string {
  const i = text.lastIndexOf(":");
  const host = i > 0 ? text.slice(0, i).replace(/^\[(.*)\]$/, "$1") : "";
  const portText = i >= 0 ? text.slice(i + 1) : "";
  const port = Number(portText);
  if (host === "" || !/^\d{1,5}$/.test(portText) || port > 65535) return `expected host:port (e.g. 127.0.0.1:8090), got ${JSON.stringify(text)}`;
  return { host, port };
}

/** Starts serving `files` (and `trace`, a loaded trace file, at /trace.jsonl); resolves once listening. */
export async function startServer(files: PageFiles & { trace?: string }, host: string, port: number): Promise<ScopeServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/" || path === "/index.html") send(res, 200, "text/html; charset=utf-8", files.html);
    else if (path === "/scope.js") send(res, 200, "text/javascript; charset=utf-8", files.script);
    else if (path === "/trace.jsonl" && files.trace !== undefined) send(res, 200, "application/jsonl; charset=utf-8", files.trace);
    else send(res, 404, "text/plain; charset=utf-8", `not found: ${path}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    baseUrl: `http://${shownHost}:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", "content-length": Buffer.byteLength(body) });
  res.end(body);
}
