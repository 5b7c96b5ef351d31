import net from "node:net";
import { performance } from "node:perf_hooks";
import { classifyErrorCode } from "../core/errors.ts";
import type { CheckResult, TargetSpec } from "../core/types.ts";

/**
 * A TCP connect check (`tcp://host:port`): healthy when the three-way
 * handshake completes within the timeout, then the socket is closed at once.
 * What HAProxy's plain `check` and Kubernetes' `tcpSocket` probe do.
 */
export function tcpCheck(spec: TargetSpec, signal?: AbortSignal): Promise<CheckResult> {
  const started = performance.now();
  const u = new URL(spec.url.replace(/^tcp:/, "http:"));
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = Number(u.port);
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: CheckResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(r);
    };
    const socket = net.connect({ host, port });
    const timer = setTimeout(
      () => finish({ ok: false, latencyMs: performance.now() - started, error: { kind: "timeout", message: `no TCP connection within ${spec.timeoutMs} ms` } }),
      spec.timeoutMs,
    );
    const onAbort = (): void => finish({ ok: false, latencyMs: performance.now() - started, error: { kind: "network", message: "check aborted" } });
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.once("connect", () => finish({ ok: true, latencyMs: performance.now() - started }));
    socket.once("error", (err: NodeJS.ErrnoException) =>
      finish({ ok: false, latencyMs: performance.now() - started, error: { kind: classifyErrorCode(err.code, err.message), message: `${err.code ?? "error"}: ${err.message}` } }),
    );
  });
}
