/**
 * A small gRPC server on `node:http2`: unary and bidirectional-streaming
 * calls, which is all etcd's API subset needs.
 *
 * Why not `@grpc/grpc-js`'s Server: measured on the development machine
 * (bench/profile.ts and an empty Put handler), its per-call machinery
 * (interceptor chain, metadata objects, deadline timers, status objects) cost
 * about 227 µs of CPU per unary call against about 117 µs for HTTP/2 alone,
 * and that difference was the largest single item of a raft-kv leader's CPU
 * per write. The protocol itself is small (grpc/grpc, PROTOCOL-HTTP2.md):
 *
 *     request:  HEADERS (:method POST, :path /pkg.Service/Method,
 *               content-type application/grpc...), then DATA carrying
 *               length-prefixed messages: u8 compressed | u32 length | bytes
 *     response: HEADERS (:status 200, content-type), DATA (messages),
 *               trailers (grpc-status, grpc-message); or, for an error before
 *               any message, one "trailers-only" HEADERS frame with both.
 *
 * Messages are (de)serialized by the functions of each method's definition
 * (from `@grpc/proto-loader`, or hand-written ones for hot paths). Handlers
 * never crash the server: a throw or rejection becomes a gRPC status. Each
 * handler sees the call's metadata (HTTP/2 headers: etcd clients send their
 * auth token there), the client certificate's common name when TLS verified
 * one, and a signal that fires when the client goes away (a `Lock` that waits
 * for minutes must stop waiting when its caller gives up).
 *
 * With `tls` the server speaks HTTP/2 over TLS (ALPN "h2"), as etcd does with
 * `--cert-file` and `--key-file`; with `clientCertAuth` a client must present
 * a certificate signed by the trusted CA (`--client-cert-auth`).
 */
import http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import { ByteQueue } from "@heck/sim/io";
import { hops } from "./hop-trace.ts";

/** Numbers unary calls for hop tracing (bench/profile.ts --hops matches them to puts by order). */
let callSeq = 0;

/** gRPC status codes (grpc/grpc, doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A call's outcome when it is not OK. */
export interface GrpcFailure {
  code: number;
  details: string;
}

/** What the server needs of one method: its path, kind and codecs (a proto-loader MethodDefinition fits). */
export interface GrpcMethod<Req = unknown, Res = unknown> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize(bytes: Buffer): Req;
  responseSerialize(value: Res): Buffer;
}

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** The call's metadata (gRPC sends it as HTTP/2 headers; keys are lower-case). */
  readonly metadata: http2.IncomingHttpHeaders;
  /** The common name of the client's certificate, when TLS verified one (etcd takes it as the user name). */
  readonly peerCommonName: string | undefined;
  /** Aborts when the client cancels the call or its connection goes away. */
  readonly signal: AbortSignal;
}

/** A unary handler: one request in, one response (or a rejection, mapped to a status) out. */
export type UnaryHandler<Req, Res> = (request: Req, context: CallContext) => Promise<Res>;

/** The server's side of a server-streaming call (one request, many responses). */
export interface ServerStreamCall<Res> {
  /** Sends one message (ignored once the call ended or the client went away). */
  write(message: Res): void;
  /** Ends the call: OK, or with `failure`. Later calls do nothing. */
  end(failure?: GrpcFailure): void;
  /** True once `end` was called or the stream closed. */
  readonly ended: boolean;
}

/** The server's side of a bidirectional stream. */
export interface BidiCall<Req, Res> {
  /** Sends one message (ignored once the call ended or the client went away). */
  write(message: Res): void;
  /** Ends the call: OK, or with `failure`. Later calls do nothing. */
  end(failure?: GrpcFailure): void;
  /** True once `end` was called or the stream closed. */
  readonly ended: boolean;
  /** Each request message, in order. */
  onMessage(handler: (message: Req) => void): void;
  /** The client half-closed (sent END_STREAM): it will send nothing more. */
  onHalfClose(handler: () => void): void;
  /** The stream closed without `end` (client cancelled, connection lost, server closing). */
  onCancel(handler: () => void): void;
}

/** Options of {@link GrpcServer}. */
export interface GrpcServerOptions {
  /** Larger incoming messages fail the call with RESOURCE_EXHAUSTED, as in grpc-js's `grpc.max_receive_message_length`. */
  maxReceiveMessageBytes: number;
  /** Turns whatever a handler threw into a status. Default: UNKNOWN with the error's message. */
  toFailure?: (error: unknown) => GrpcFailure;
}

const HEADER_BYTES = 5;
// Built once: http2's respond() only reads them.
const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = { ":status": 200, "content-type": "application/grpc", "grpc-accept-encoding": "identity" };
const OK_TRAILERS: http2.OutgoingHttpHeaders = { "grpc-status": "0" };

/**
 * grpc-message is percent-encoded: bytes outside printable ASCII, and '%'
 * itself (PROTOCOL-HTTP2.md). Clients decode it back to the original text.
 */
export function encodeGrpcMessage(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function failureTrailers(f: GrpcFailure): http2.OutgoingHttpHeaders {
  return { "grpc-status": String(f.code), "grpc-message": encodeGrpcMessage(f.details) };
}

/** Prefixes a serialized message with gRPC's 5-byte header (uncompressed). */
function frameMessage(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, HEADER_BYTES);
  return out;
}

/**
 * Splits a request's DATA into messages. A message inside one chunk is a
 * view of it (no copy); one spread over chunks is copied once.
 */
class MessageReader {
  private readonly queue = new ByteQueue();

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): Buffer[] | GrpcFailure {
    this.queue.push(chunk);
    const out: Buffer[] = [];
    while (this.queue.length >= HEADER_BYTES) {
      const head = this.queue.peek(HEADER_BYTES);
      const length = head.readUInt32BE(1);
      if (head[0] !== 0) return { code: GrpcStatus.UNIMPLEMENTED, details: "compressed messages are not supported (this server accepts grpc-encoding identity only)" };
      if (length > this.maxBytes) return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `Received message larger than max (${length} vs. ${this.maxBytes})` };
      if (this.queue.length < HEADER_BYTES + length) break;
      this.queue.take(HEADER_BYTES);
      out.push(this.queue.take(length));
    }
    return out;
  }

  /** True when a message was started but not finished. */
  get partial(): boolean {
    return this.queue.length > 0;
  }
}

/** TLS material for a server, PEM-encoded. */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** CAs that sign client certificates (etcd's --trusted-ca-file). */
  ca?: Buffer;
  /** Refuse clients without a certificate signed by `ca` (etcd's --client-cert-auth). */
  clientCertAuth?: boolean;
}

type Route =
  | { kind: "unary"; method: GrpcMethod; handler: UnaryHandler<unknown, unknown> }
  | { kind: "serverStream"; method: GrpcMethod; handler: (request: unknown, call: ServerStreamCall<unknown>, context: CallContext) => void }
  | { kind: "bidi"; method: GrpcMethod; handler: (call: BidiCall<unknown, unknown>, context: CallContext) => void };

/** A gRPC server on HTTP/2, cleartext or over TLS. */
export class GrpcServer {
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly routes = new Map<string, Route>();
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly toFailure: (error: unknown) => GrpcFailure;
  private malformed = 0;

  constructor(private readonly options: GrpcServerOptions & { tls?: ServerTls }) {
    this.toFailure = options.toFailure ?? ((e) => ({ code: GrpcStatus.UNKNOWN, details: e instanceof Error ? e.message : String(e) }));
    // Like grpc-js: no per-session memory cap (large requests are bounded by maxReceiveMessageBytes instead).
    const base = { maxSessionMemory: Number.MAX_SAFE_INTEGER, maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER };
    const tls = options.tls;
    this.server = tls
      ? http2.createSecureServer({ ...base, cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.clientCertAuth === true, rejectUnauthorized: tls.clientCertAuth === true, ALPNProtocols: ["h2"] })
      : http2.createServer(base);
    // A failed TLS handshake (wrong CA, no client certificate, plaintext on the TLS port) is the client's problem.
    this.server.on("tlsClientError", () => {});
    this.server.on("session", (session) => {
      this.sessions.add(session);
      session.on("close", () => this.sessions.delete(session));
      // A broken connection is the client's problem; never let it crash the node.
      session.on("error", () => {});
    });
    this.server.on("sessionError", () => {});
    this.server.on("stream", (stream, headers) => this.dispatch(stream, headers));
  }

  /**
   * Request messages refused before a handler saw them, since start: framing
   * that is not gRPC's (compressed, past the size limit, cut off, missing,
   * one too many) or bytes the method's deserializer could not decode.
   */
  get malformedMessages(): number {
    return this.malformed;
  }

  /** Serves a unary method. */
  addUnary<Req, Res>(method: GrpcMethod<Req, Res>, handler: UnaryHandler<Req, Res>): void {
    if (method.requestStream || method.responseStream) throw new TypeError(`${method.path} is a streaming method`);
    this.routes.set(method.path, { kind: "unary", method: method as GrpcMethod, handler: handler as UnaryHandler<unknown, unknown> });
  }

  /** Serves a server-streaming method. */
  addServerStream<Req, Res>(method: GrpcMethod<Req, Res>, handler: (request: Req, call: ServerStreamCall<Res>, context: CallContext) => void): void {
    if (method.requestStream || !method.responseStream) throw new TypeError(`${method.path} is not a server-streaming method`);
    this.routes.set(method.path, { kind: "serverStream", method: method as GrpcMethod, handler: handler as (request: unknown, call: ServerStreamCall<unknown>, context: CallContext) => void });
  }

  /** Serves a bidirectional-streaming method. */
  addBidi<Req, Res>(method: GrpcMethod<Req, Res>, handler: (call: BidiCall<Req, Res>, context: CallContext) => void): void {
    if (!method.requestStream || !method.responseStream) throw new TypeError(`${method.path} is not a bidirectional-streaming method`);
    this.routes.set(method.path, { kind: "bidi", method: method as GrpcMethod, handler: handler as (call: BidiCall<unknown, unknown>, context: CallContext) => void });
  }

  /** Listens on host:port (0 = any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.off("error", reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  /** Stops at once: refuses new connections and drops open ones (grpc-js's forceShutdown). */
  close(): void {
    this.server.close();
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
  }

  /** Counts a request message refused as malformed and passes its failure on. */
  private refused(failure: GrpcFailure): GrpcFailure {
    this.malformed++;
    return failure;
  }

  private dispatch(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    // A reset or broken stream must never reach the process as an unhandled 'error'.
    stream.on("error", () => {});
    const contentType = headers["content-type"];
    if (headers[":method"] !== "POST" || typeof contentType !== "string" || !contentType.startsWith("application/grpc")) {
      // Not gRPC: HTTP's own answer, as the protocol asks.
      if (!stream.headersSent && !stream.destroyed) stream.respond({ ":status": 415 }, { endStream: true });
      return;
    }
    const route = this.routes.get(headers[":path"] ?? "");
    if (!route) {
      trailersOnly(stream, { code: GrpcStatus.UNIMPLEMENTED, details: `The server does not implement the method ${headers[":path"] ?? ""}` });
      return;
    }
    const context = callContext(stream, headers);
    if (route.kind === "unary") this.unary(stream, route.method, route.handler, context);
    else if (route.kind === "serverStream") this.serverStream(stream, route.method, route.handler, context);
    else this.bidi(stream, route.method, route.handler, context);
  }

  private unary(stream: http2.ServerHttp2Stream, method: GrpcMethod, handler: UnaryHandler<unknown, unknown>, context: CallContext): void {
    const reader = new MessageReader(this.options.maxReceiveMessageBytes);
    let request: Buffer | null = null;
    let failed: GrpcFailure | null = null;
    stream.on("data", (chunk: Buffer) => {
      if (failed) return;
      const got = reader.push(chunk);
      if (!Array.isArray(got)) failed = this.refused(got);
      else if (got.length > 0) {
        if (request !== null || got.length > 1) failed = this.refused({ code: GrpcStatus.UNIMPLEMENTED, details: `${method.path} takes one request message, got more` });
        else request = got[0]!;
      }
      if (failed) trailersOnly(stream, failed);
    });
    const call = ++callSeq;
    hops?.mark("gin", call);
    stream.on("end", () => {
      if (failed) return;
      if (request === null || reader.partial) {
        trailersOnly(stream, this.refused({ code: GrpcStatus.INTERNAL, details: request === null ? "no request message received" : "request cut off mid-message" }));
        return;
      }
      let decoded: unknown;
      try {
        decoded = method.requestDeserialize(request);
      } catch (error) {
        trailersOnly(stream, this.refused({ code: GrpcStatus.INTERNAL, details: `error parsing the request message: ${error instanceof Error ? error.message : String(error)}` }));
        return;
      }
      let pending: Promise<unknown>;
      try {
        pending = handler(decoded, context);
      } catch (error) {
        trailersOnly(stream, this.toFailure(error));
        return;
      }
      pending.then(
        (response) => {
          hops?.mark("gout", call);
          if (stream.destroyed || stream.closed || stream.headersSent) return;
          let payload: Buffer;
          try {
            payload = method.responseSerialize(response);
          } catch (error) {
            trailersOnly(stream, { code: GrpcStatus.INTERNAL, details: `error serializing the response: ${error instanceof Error ? error.message : String(error)}` });
            return;
          }
          stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
          stream.once("wantTrailers", () => {
            hops?.mark("gwrote", call);
            stream.sendTrailers(OK_TRAILERS);
          });
          stream.end(frameMessage(payload));
          hops?.mark("gdone", call);
        },
        (error: unknown) => trailersOnly(stream, this.toFailure(error)),
      );
    });
  }

  /** One request message, then the handler writes responses until it ends the call. */
  private serverStream(stream: http2.ServerHttp2Stream, method: GrpcMethod, handler: (request: unknown, call: ServerStreamCall<unknown>, context: CallContext) => void, context: CallContext): void {
    const reader = new MessageReader(this.options.maxReceiveMessageBytes);
    let request: Buffer | null = null;
    let failed: GrpcFailure | null = null;
    let ended = false;
    let trailers = OK_TRAILERS;
    const call: ServerStreamCall<unknown> = {
      write(message) {
        if (ended || stream.destroyed || stream.closed) return;
        if (!stream.headersSent) {
          stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
          stream.once("wantTrailers", () => stream.sendTrailers(trailers));
        }
        stream.write(frameMessage(method.responseSerialize(message)));
      },
      end(failure) {
        if (ended) return;
        ended = true;
        if (stream.destroyed || stream.closed) return;
        if (!stream.headersSent) {
          trailersOnly(stream, failure ?? { code: GrpcStatus.OK, details: "" });
          return;
        }
        if (failure) trailers = failureTrailers(failure);
        stream.end();
      },
      get ended() {
        return ended || stream.destroyed || stream.closed;
      },
    };
    stream.on("data", (chunk: Buffer) => {
      if (failed) return;
      const got = reader.push(chunk);
      if (!Array.isArray(got)) failed = this.refused(got);
      else if (got.length > 0) {
        if (request !== null || got.length > 1) failed = this.refused({ code: GrpcStatus.UNIMPLEMENTED, details: `${method.path} takes one request message, got more` });
        else request = got[0]!;
      }
      if (failed) call.end(failed);
    });
    stream.on("end", () => {
      if (failed) return;
      if (request === null || reader.partial) {
        call.end(this.refused({ code: GrpcStatus.INTERNAL, details: request === null ? "no request message received" : "request cut off mid-message" }));
        return;
      }
      let decoded: unknown;
      try {
        decoded = method.requestDeserialize(request);
      } catch (error) {
        call.end(this.refused({ code: GrpcStatus.INTERNAL, details: `error parsing the request message: ${error instanceof Error ? error.message : String(error)}` }));
        return;
      }
      try {
        handler(decoded, call, context);
      } catch (error) {
        call.end(this.toFailure(error));
      }
    });
  }

  private bidi(stream: http2.ServerHttp2Stream, method: GrpcMethod, handler: (call: BidiCall<unknown, unknown>, context: CallContext) => void, context: CallContext): void {
    const reader = new MessageReader(this.options.maxReceiveMessageBytes);
    let ended = false;
    let trailers = OK_TRAILERS;
    let onMessage: (m: unknown) => void = () => {};
    let onHalfClose: () => void = () => {};
    let onCancel: () => void = () => {};
    const startResponse = () => {
      if (stream.headersSent) return;
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once("wantTrailers", () => stream.sendTrailers(trailers));
    };
    const call: BidiCall<unknown, unknown> = {
      write(message) {
        if (ended || stream.destroyed || stream.closed) return;
        startResponse();
        stream.write(frameMessage(method.responseSerialize(message)));
      },
      end(failure) {
        if (ended) return;
        ended = true;
        if (stream.destroyed || stream.closed) return;
        if (!stream.headersSent) {
          trailersOnly(stream, failure ?? { code: GrpcStatus.OK, details: "" });
          return;
        }
        if (failure) trailers = failureTrailers(failure);
        stream.end();
      },
      get ended() {
        return ended || stream.destroyed || stream.closed;
      },
      onMessage: (h) => (onMessage = h),
      onHalfClose: (h) => (onHalfClose = h),
      onCancel: (h) => (onCancel = h),
    };
    stream.on("data", (chunk: Buffer) => {
      if (ended) return;
      const got = reader.push(chunk);
      if (!Array.isArray(got)) {
        call.end(this.refused(got));
        onCancel();
        return;
      }
      for (const bytes of got) {
        let message: unknown;
        try {
          message = method.requestDeserialize(bytes);
        } catch (error) {
          call.end(this.refused({ code: GrpcStatus.INTERNAL, details: `error parsing a request message: ${error instanceof Error ? error.message : String(error)}` }));
          onCancel();
          return;
        }
        onMessage(message);
        if (ended) return;
      }
    });
    stream.on("end", () => {
      if (!ended) onHalfClose();
    });
    stream.on("close", () => {
      if (ended) return;
      ended = true;
      onCancel();
    });
    try {
      handler(call, context);
    } catch (error) {
      call.end(this.toFailure(error));
    }
  }
}

/**
 * The metadata, the verified client certificate's common name and a
 * cancellation signal of one call. The last two are made on first use: most
 * calls (a Put) never ask, and the hot path should not pay for them.
 */
function callContext(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): CallContext {
  let abort: AbortController | undefined;
  return {
    metadata: headers,
    get peerCommonName(): string | undefined {
      const socket = stream.session?.socket as TLSSocket | undefined;
      if (!socket || typeof socket.getPeerCertificate !== "function" || !socket.authorized) return undefined;
      const cn = socket.getPeerCertificate().subject?.CN;
      return Array.isArray(cn) ? (cn[0] as string | undefined) : cn;
    },
    get signal(): AbortSignal {
      if (!abort) {
        abort = new AbortController();
        const a = abort;
        if (stream.closed || stream.destroyed) a.abort();
        else stream.once("close", () => a.abort());
      }
      return abort.signal;
    },
  };
}

/** Answers with one HEADERS frame that carries the status (no messages). */
function trailersOnly(stream: http2.ServerHttp2Stream, f: GrpcFailure): void {
  if (stream.destroyed || stream.closed || stream.headersSent) {
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond({ ...RESPONSE_HEADERS, ...failureTrailers(f) }, { endStream: true });
}
