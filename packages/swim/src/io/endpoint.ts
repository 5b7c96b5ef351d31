/**
 * The edge between the driver and the network, one per wire format: it
 * turns the node's outgoing messages into bytes on a transport, and bytes
 * from the transport into messages for the node, dropping and counting
 * anything malformed, oversized or sealed with an unknown key. heck's own
 * wire (heck-endpoint.ts) and memberlist's (memberlist-endpoint.ts) differ
 * in their bytes, their encryption and their streams; the driver and the
 * protocol core are the same for both.
 */
import type { Address, Channel } from "@heck/sim";
import type { MemberlistDecodeErrorKind } from "../core/memberlist/msgpack.ts";
import type { SwimMessage } from "../core/messages.ts";

/** What the driver counted at the edge (the node counts the protocol side). */
export interface DriverCounters {
  packetsIn: number;
  packetBytesIn: number;
  packetsOut: number;
  packetBytesOut: number;
  framesIn: number;
  framesOut: number;
  /** Packets and frames that failed to decode, by reason. */
  decodeErrors: Partial<Record<MemberlistDecodeErrorKind, number>>;
  /** Encrypted packets and frames no installed key opens (wrong key or tampering). */
  wrongKey: number;
  /** Plaintext packets received while encryption is on (rejected, as memberlist's GossipVerifyIncoming). */
  plaintextRejected: number;
  /** Encrypted packets received by a node without a keyring. */
  encryptedWithoutKeyring: number;
  /** memberlist's user messages received (heck has no delegate for them: counted and dropped). */
  userMessages: number;
  /** Error replies (memberlist's errResp) received on streams. */
  remoteErrors: number;
  dialFailures: number;
  sendErrors: number;
}

/** Fresh zeroed counters. */
export function newDriverCounters(): DriverCounters {
  return {
    packetsIn: 0,
    packetBytesIn: 0,
    packetsOut: 0,
    packetBytesOut: 0,
    framesIn: 0,
    framesOut: 0,
    decodeErrors: {},
    wrongKey: 0,
    plaintextRejected: 0,
    encryptedWithoutKeyring: 0,
    userMessages: 0,
    remoteErrors: 0,
    dialFailures: 0,
    sendErrors: 0,
  };
}

/** Key rotation as the HTTP API drives it; heck's Keyring and memberlist's both provide it. */
export interface KeyRotation {
  install(key: Uint8Array): void;
  use(key: Uint8Array): void;
  remove(key: Uint8Array): void;
  /** Fingerprints, primary first. */
  list(): { primary: string; keys: string[] };
}

/** How an endpoint reaches the driver. */
export interface EndpointSink {
  /** A decoded message for the node (the driver steps the node and sends what it produced). */
  receive(from: Address, message: SwimMessage, channel: Channel): void;
  /** A stream message could not be delivered (dial failed, no reply in time). */
  streamFailed(to: Address, message: SwimMessage): void;
  /** A rate-limited warning (the counters keep the totals). */
  warn(kind: string, message: string): void;
  /** A bug in a handler: logged, never fatal. */
  internalError(e: unknown): void;
}

/** One wire format on one transport. */
export interface Endpoint {
  /** "heck" or "memberlist". */
  readonly wire: "heck" | "memberlist";
  /** The keys, when encryption is on. */
  readonly keyring: KeyRotation | undefined;
  /** Parses a key as this wire accepts it (base64; heck: 32 bytes, memberlist: 16, 24 or 32). */
  parseKey(text: string): Uint8Array;
  /** Open stream connections. */
  readonly openStreams: number;
  /** True when the last stream dial to `address` connected (it listens, whatever it then did with what we sent). */
  connectedTo?(address: Address): boolean;
  start(sink: EndpointSink): void;
  sendPacket(to: Address, message: SwimMessage): void;
  sendStream(to: Address, message: SwimMessage): void;
  /** Closes every stream (the driver closes the transport). */
  stop(): void;
}
