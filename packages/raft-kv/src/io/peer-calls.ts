/**
 * Calls between members that must not go through the log: a lease
 * keep-alive a client sent to a follower is answered by the leader, whose
 * clock alone decides when leases expire (etcd forwards keep-alives to the
 * leader over its peer port the same way). Requests and answers ride the peer
 * streams as `call` and `callReply` envelopes; a call whose answer does not
 * come back in time fails with "timeout", and the caller decides whether to
 * try again (a keep-alive may, it only renews).
 */
import crypto from "node:crypto";
import type { Envelope } from "../core/replica/envelope.ts";
import { ServerError, type ServerErrorCode } from "../core/replica/errors.ts";

/** Serves one method for peers: the request body in, the answer body out (or a ServerError). */
export type CallHandler = (from: string, body: Uint8Array) => Promise<Uint8Array>;

interface Pending {
  resolve(body: Uint8Array): void;
  reject(error: ServerError): void;
  timer: NodeJS.Timeout;
}

/** One node's outgoing calls and the handlers for incoming ones. */
export class PeerCalls {
  private readonly handlers = new Map<string, CallHandler>();
  private readonly pending = new Map<string, Pending>();
  private readonly bootId = crypto.randomBytes(4).toString("hex");
  private seq = 0;
  private closed = false;

  constructor(
    readonly selfId: string,
    private readonly send: (to: string, envelope: Envelope) => void,
  ) {}

  /** Serves `method` for peers (one handler per method). */
  handle(method: string, handler: CallHandler): void {
    this.handlers.set(method, handler);
  }

  /** Calls `method` on member `to`; rejects with the peer's ServerError, or "timeout" after `timeoutMs`. */
  call(to: string, method: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new ServerError("stopped", "node stopped"));
    const requestId = `${this.selfId}.${this.bootId}.c${++this.seq}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new ServerError("timeout", `${method} to ${to} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
      this.send(to, { kind: "call", from: this.selfId, requestId, method, body });
    });
  }

  /** Handles a `call` or `callReply` envelope from the network. */
  receive(env: Envelope): void {
    if (this.closed) return;
    if (env.kind === "callReply") {
      const p = this.pending.get(env.requestId);
      if (!p) return;
      this.pending.delete(env.requestId);
      clearTimeout(p.timer);
      if (env.ok) p.resolve(env.body);
      else p.reject(new ServerError(env.code as ServerErrorCode, env.message));
      return;
    }
    if (env.kind !== "call") return;
    const reply = (r: { ok: true; body: Uint8Array } | { ok: false; code: string; message: string }) =>
      this.send(env.from, { kind: "callReply", from: this.selfId, requestId: env.requestId, ok: r.ok, body: r.ok ? r.body : new Uint8Array(0), code: r.ok ? "" : r.code, message: r.ok ? "" : r.message });
    const handler = this.handlers.get(env.method);
    if (!handler) {
      reply({ ok: false, code: "not_capable", message: `this member does not serve ${env.method}` });
      return;
    }
    handler(env.from, env.body).then(
      (body) => reply({ ok: true, body }),
      (error: unknown) => reply(error instanceof ServerError ? { ok: false, code: error.code, message: error.message } : { ok: false, code: "invalid_argument", message: error instanceof Error ? error.message : String(error) }),
    );
  }

  /** Fails every call in flight with "stopped" and ignores what arrives later. */
  close(): void {
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ServerError("stopped", "node stopped"));
    }
    this.pending.clear();
  }
}
