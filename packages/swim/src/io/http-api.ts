/**
 * The agent's HTTP endpoint: the member list other tools read, and the admin
 * commands (key rotation, metadata, faults, leave).
 *
 * Contract (outside scripts rely on it): `GET /v1/members` returns a JSON
 * array of `{ name, addr, state, incarnation, meta, metaBase64 }`, where
 * `state` is "alive" | "suspect" | "dead" | "left" and `meta` is the
 * metadata as UTF-8 text.
 *
 * Other routes:
 * - `GET /v1/self`, `GET /v1/stats`: this member and its counters (`malformed`
 *   counts what it dropped undecoded: `swim` packets and frames, `api` requests);
 * - `GET /v1/keys`: key fingerprints, primary first;
 * - `POST /v1/keys/install|use|remove` with `{"key": "<base64>"}`;
 * - `POST /v1/meta` with `{"meta": "<text>"}`;
 * - `POST /v1/faults` with `{"dropRate"?: n, "block"?: [addr], "unblock"?: [addr] | true}`;
 * - `POST /v1/leave`: graceful leave; the agent then exits.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { MemberInfo } from "../core/types.ts";
import { countUnparsableRequests, isMalformedStatus, readJson as readJsonBody, sendJson as send } from "@heck/sim/http";
import { KeyringError } from "@heck/sim/io";
import type { SwimMember } from "./member.ts";

/** The JSON shape of one member in `GET /v1/members`. */
export interface MemberJson {
  name: string;
  addr: string;
  state: MemberInfo["state"];
  incarnation: number;
  meta: string;
  metaBase64: string;
}

/** Converts a member to its JSON shape. */
export function memberToJson(m: MemberInfo): MemberJson {
  return {
    name: m.name,
    addr: m.addr,
    state: m.state,
    incarnation: m.incarnation,
    meta: new TextDecoder().decode(m.meta),
    metaBase64: Buffer.from(m.meta).toString("base64"),
  };
}

/** Options for {@link startHttpApi}. */
export interface HttpApiOptions {
  /** "host:port" to listen on (port 0 picks one). */
  listen: string;
  /** Called after POST /v1/leave completes (the agent exits there). */
  onLeave?: () => void;
}

/** A running HTTP endpoint. */
export interface HttpApi {
  /** "host:port" it listens on. */
  address: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const MAX_BODY_BYTES = 64 * 1024;

/** Serves the member list and admin routes for `member`. */
export async function startHttpApi(member: SwimMember, options: HttpApiOptions): Promise<HttpApi> {
  const { host, port } = parseListen(options.listen);
  const server = http.createServer((req, res) => {
    handle(member, req, options)
      .then((body) => send(res, 200, body))
      .catch((e: unknown) => {
        const status = e instanceof HttpError ? e.status : e instanceof KeyringError ? 400 : 500;
        if (isMalformedStatus(status)) member.countMalformedRequest();
        send(res, status, { error: (e as Error).message ?? String(e) });
      });
  });
  countUnparsableRequests(server, () => member.countMalformedRequest());
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return {
    address: `${bound.address}:${bound.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(listen);
  if (m === null) throw new TypeError(`--http: must look like "host:port", got ${JSON.stringify(listen)}`);
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`--http: port must be 0-65535, got ${m[2]}`);
  return { host: m[1]!, port };
}

async function handle(member: SwimMember, req: http.IncomingMessage, options: HttpApiOptions): Promise<unknown> {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  const method = req.method ?? "GET";
  if (method === "GET") {
    switch (path) {
      case "/v1/members":
        return member.members().map(memberToJson);
      case "/v1/self": {
        const me = member.member(member.name);
        return { ...(me ? memberToJson(me) : { name: member.name, addr: member.address }), healthScore: member.stats().healthScore };
      }
      case "/v1/stats":
        return member.stats();
      case "/v1/keys":
        return keysJson(member);
      case "/v1/faults":
        return member.faults.faults();
    }
    throw new HttpError(404, `no route GET ${path}`);
  }
  if (method !== "POST") throw new HttpError(405, `method ${method} not allowed`);
  const read = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES, whenEmpty: { value: {} }, parserDetail: false });
  if (!read.ok) throw new HttpError(read.status, read.error);
  const body = read.value;
  switch (path) {
    case "/v1/keys/install":
    case "/v1/keys/use":
    case "/v1/keys/remove": {
      const keyring = member.keyring;
      if (keyring === undefined) throw new HttpError(400, "encryption is not enabled on this agent (start it with --key)");
      onlyFields(body, ["key"]);
      // Each wire takes its own key sizes: heck's 32 bytes, memberlist's 16, 24 or 32.
      const key = member.parseKey(stringField(body, "key"));
      if (path.endsWith("install")) keyring.install(key);
      else if (path.endsWith("use")) keyring.use(key);
      else keyring.remove(key);
      return keysJson(member);
    }
    case "/v1/meta":
      onlyFields(body, ["meta"]);
      member.updateMeta(stringField(body, "meta"));
      return memberToJson(member.member(member.name)!);
    case "/v1/faults": {
      const f = onlyFields(body, ["dropRate", "block", "unblock"]) as { dropRate?: unknown; block?: unknown; unblock?: unknown };
      if (f.dropRate !== undefined) {
        if (typeof f.dropRate !== "number" || !(f.dropRate >= 0 && f.dropRate <= 1)) throw new HttpError(400, "dropRate: must be a number in [0, 1]");
        member.faults.setDropRate(f.dropRate);
      }
      if (f.block !== undefined) member.faults.block(addressList(f.block, "block"));
      if (f.unblock === true) member.faults.unblock();
      else if (f.unblock !== undefined) member.faults.unblock(addressList(f.unblock, "unblock"));
      return member.faults.faults();
    }
    case "/v1/leave": {
      onlyFields(body, []);
      const complete = await member.leave();
      setImmediate(() => options.onLeave?.());
      return { left: true, goodbyeComplete: complete };
    }
  }
  throw new HttpError(404, `no route POST ${path}`);
}

function keysJson(member: SwimMember): unknown {
  const keyring = member.keyring;
  return keyring === undefined ? { enabled: false, primary: null, keys: [] } : { enabled: true, ...keyring.list() };
}

/**
 * Refuses a body that is not a JSON object or has a field the call does not
 * know, as fleet's and v1's APIs do: `{"banana": 1}` is a mistake, and
 * answering 200 would let it pass for a fault that was set.
 */
function onlyFields(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "body: must be a JSON object");
  for (const k of Object.keys(body)) {
    if (!allowed.includes(k)) throw new HttpError(400, `${k}: unknown field (expected ${allowed.length === 0 ? "no fields" : allowed.join(", ")})`);
  }
  return body as Record<string, unknown>;
}

function stringField(body: unknown, field: string): string {
  const value = (body as Record<string, unknown> | null)?.[field];
  if (typeof value !== "string") throw new HttpError(400, `${field}: must be a string`);
  return value;
}

function addressList(value: unknown, field: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw new HttpError(400, `${field}: must be an array of "host:port" strings`);
  return value as string[];
}
