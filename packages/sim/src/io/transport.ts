/**
 * The transport contract drivers are written against: packets and reliable
 * streams on one address (in the spirit of memberlist's Transport). It lives
 * with the edges because dialing and closing are asynchronous (they return
 * promises), which no core may be. Implemented by the real UDP/TCP
 * transport and, over the simulated network, by `SimTransport` (sim-transport.ts); one
 * contract suite (test/support/transport-contract.ts) checks both.
 */
import type { Address, PacketTransport, Stream } from "../core/types.ts";

/** Reliable ordered streams (TCP-like): dial a peer, accept peers' dials. */
export interface StreamTransport {
  readonly localAddress: Address;
  /** Largest frame `Stream.send` accepts; a larger frame throws, a larger incoming frame breaks the stream. */
  readonly maxFrameBytes: number;
  /** Opens a stream; rejects if the peer is unreachable within `timeoutMs`. */
  dial(to: Address, timeoutMs: number): Promise<Stream>;
  /** Registers the one handler for accepted streams. */
  onStream(handler: (stream: Stream) => void): void;
}

/** Both kinds of transport plus shutdown: what a node's driver is given. */
export interface Transport extends PacketTransport, StreamTransport {
  /** Stops listening and closes every stream. */
  close(): Promise<void>;
}
