/**
 * The edges of `@heck/sim`: things that touch the operating system (sockets,
 * timers, files, the environment). Import as `@heck/sim/io` from drivers and
 * CLIs, never from a core.
 */
export { seedsFromEnv, parseSeed, type SeedListOptions } from "./seeds.ts";
export { SystemClock } from "./system-clock.ts";
export type { StreamTransport, Transport } from "./transport.ts";
export { SimTransport } from "./sim-transport.ts";
export { ByteQueue } from "./byte-queue.ts";
export { fsyncDir, fsyncDirAsync } from "./fsync-dir.ts";
export { UdpTcpTransport, parseAddress, encodeFrame, FrameDecoder, type UdpTcpTransportOptions, type TransportStats } from "./udp-tcp-transport.ts";
export {
  Keyring,
  KeyringError,
  parseKey,
  generateKey,
  keyFingerprint,
  keyringFromBase64,
  ENCRYPTED_VERSION,
  ENCRYPTION_OVERHEAD_BYTES,
  KEY_BYTES,
  type OpenFailure,
} from "./keyring.ts";
export { FaultInjectingTransport, type FaultInjectionOptions } from "./fault-injecting-transport.ts";
export { openTransport, type OpenTransportOptions } from "./open-transport.ts";
export { TraceWriter, readTraceFile, streamTraceFile } from "./trace-file.ts";
