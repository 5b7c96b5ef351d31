/**
 * The {@link Transport} interface over the simulated network, for
 * driver-style code and the transport contract suite: a thin promise
 * wrapper around a core {@link SimEndpoint}, which does all the work with
 * callbacks (cores are synchronous). Its time is the network's: a dial
 * settles when the simulation reaches the SYN-ACK, not on the event loop's
 * schedule.
 */
import type { SimEndpoint, SimNetwork } from "../core/sim-network.ts";
import type { Address, FaultControl, Stream } from "../core/types.ts";
import type { Transport } from "./transport.ts";

/** A {@link Transport} with {@link FaultControl} bound to one address of a {@link SimNetwork}. */
export class SimTransport implements Transport, FaultControl {
  readonly endpoint: SimEndpoint;

  /** Opens `address` on `network` (opening an address whose previous transport was closed is a restart). */
  constructor(network: SimNetwork, address: Address) {
    this.endpoint = network.endpoint(address);
  }

  get localAddress(): Address {
    return this.endpoint.localAddress;
  }

  get maxPacketBytes(): number {
    return this.endpoint.maxPacketBytes;
  }

  get maxFrameBytes(): number {
    return this.endpoint.maxFrameBytes;
  }

  sendPacket(to: Address, payload: Uint8Array): void {
    this.endpoint.sendPacket(to, payload);
  }

  onPacket(handler: (from: Address, payload: Uint8Array) => void): void {
    this.endpoint.onPacket(handler);
  }

  onStream(handler: (stream: Stream) => void): void {
    this.endpoint.onStream(handler);
  }

  dial(to: Address, timeoutMs: number): Promise<Stream> {
    return new Promise((resolve, reject) => this.endpoint.dialStream(to, timeoutMs, (error, stream) => (error !== undefined ? reject(error) : resolve(stream!))));
  }

  async close(): Promise<void> {
    this.endpoint.close();
  }

  setDropRate(rate: number): void {
    this.endpoint.setDropRate(rate);
  }

  block(addresses: readonly Address[]): void {
    this.endpoint.block(addresses);
  }

  unblock(addresses?: readonly Address[]): void {
    this.endpoint.unblock(addresses);
  }

  faults(): { dropRate: number; blocked: Address[] } {
    return this.endpoint.faults();
  }
}
