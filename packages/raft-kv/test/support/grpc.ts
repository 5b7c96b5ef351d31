/** A raw gRPC client for any of etcd's services, built on this package's .proto files (tests call methods by name). */
import * as grpc from "@grpc/grpc-js";
import { loadEtcdProto } from "../../src/io/grpc-api.ts";

/** A decoded message. */
export type Obj = Record<string, unknown>;

type Unary = (req: Obj, metadata: grpc.Metadata, options: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Obj) => void) => void;

/** Calls by "Service.Method" ("Lock.Lock", "Election.Campaign" and the etcdserverpb services). */
export interface RawClient {
  call(method: string, req: Obj, options?: { token?: string; timeoutMs?: number }): Promise<Obj>;
  /** A bidirectional stream (Watch, LeaseKeepAlive). */
  bidi(method: string, options?: { token?: string }): grpc.ClientDuplexStream<Obj, Obj>;
  /** A server stream (Observe, Snapshot). */
  serverStream(method: string, req: Obj): grpc.ClientReadableStream<Obj>;
  close(): void;
}

const PACKAGE_OF: Record<string, string> = { Lock: "v3lockpb", Election: "v3electionpb" };

/** A client of `address` (plaintext unless `credentials` say otherwise). */
export function rawClient(address: string, credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure()): RawClient {
  const pkg = loadEtcdProto() as unknown as Record<string, Record<string, grpc.ServiceClientConstructor>>;
  const clients = new Map<string, grpc.Client>();
  const stub = (service: string): Record<string, unknown> => {
    let c = clients.get(service);
    if (!c) clients.set(service, (c = new pkg[PACKAGE_OF[service] ?? "etcdserverpb"]![service]!(address, credentials)));
    return c as unknown as Record<string, unknown>;
  };
  const meta = (token?: string) => {
    const m = new grpc.Metadata();
    if (token) m.set("token", token);
    return m;
  };
  return {
    call(method, req, options = {}) {
      const [service, name] = method.split(".") as [string, string];
      const fn = stub(service)[name] as Unary;
      return new Promise((resolve, reject) => fn.call(stub(service), req, meta(options.token), { deadline: Date.now() + (options.timeoutMs ?? 10_000) }, (e, v) => (e ? reject(e) : resolve(v))));
    },
    bidi(method, options = {}) {
      const [service, name] = method.split(".") as [string, string];
      return (stub(service)[name] as (m: grpc.Metadata) => grpc.ClientDuplexStream<Obj, Obj>).call(stub(service), meta(options.token));
    },
    serverStream(method, req) {
      const [service, name] = method.split(".") as [string, string];
      return (stub(service)[name] as (r: Obj) => grpc.ClientReadableStream<Obj>).call(stub(service), req);
    },
    close() {
      for (const c of clients.values()) c.close();
    },
  };
}

/** Resolves with the first message of a stream that satisfies `pred` (rejects on error or end). */
export function nextMessage(stream: grpc.ClientReadableStream<Obj> | grpc.ClientDuplexStream<Obj, Obj>, pred: (m: Obj) => boolean = () => true): Promise<Obj> {
  return new Promise((resolve, reject) => {
    const onData = (m: Obj) => {
      if (!pred(m)) return;
      cleanup();
      resolve(m);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(e);
    };
    const onEnd = () => {
      cleanup();
      reject(new Error("stream ended"));
    };
    const cleanup = () => {
      stream.off("data", onData);
      stream.off("error", onError);
      stream.off("end", onEnd);
    };
    stream.on("data", onData);
    stream.on("error", onError);
    stream.on("end", onEnd);
  });
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes (then throws naming `what`). */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
