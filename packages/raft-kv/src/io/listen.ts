/**
 * Listener addresses as the server's options and flags give them. Its own
 * module so that the command line can check a flag without loading the
 * server (gRPC and protobuf loading take most of a start).
 */
import { ServerError } from "../core/replica/errors.ts";

/** Parses host:port for a listener, naming the option on error. */
export function parseListen(address: string, field: string): { host: string; port: number } {
  const m = /^([^\s:]+|\[[^\]]+\]):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ServerError("invalid_argument", `${field}: expected host:port, got ${JSON.stringify(address)}`, { field });
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}
