import type { Parsed } from "./behaviour.ts";

/**
 * Parses `host:port` (IPv6 as `[::1]:port`) for `--control`. Port 0 is
 * allowed (the OS picks one). Errors name the flag given in `field`.
 */
export function parseHostPort(text: string, field: string): Parsed<{ host: string; port: number }> {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  if (!m) return { ok: false, errors: [`${field}: expected host:port such as 127.0.0.1:12999, got "${text}"`] };
  const host = (m[1] ?? m[2])!;
  const port = Number(m[3]);
  if (port > 65535) return { ok: false, errors: [`${field}: port ${port} is above 65535`] };
  return { ok: true, value: { host, port } };
}
