/**
 * One call for drivers: a real UDP+TCP transport with the fault-injection
 * layer on top, as every stage's node process uses it. Pass
 * `keyring: keyringFromBase64([...])` to seal every packet and frame.
 */
import { FaultInjectingTransport, type FaultInjectionOptions } from "./fault-injecting-transport.ts";
import { UdpTcpTransport, type UdpTcpTransportOptions } from "./udp-tcp-transport.ts";

/** Options for {@link openTransport}: where to listen, limits, encryption (`keyring`), and initial faults. */
export interface OpenTransportOptions extends UdpTcpTransportOptions {
  faults?: FaultInjectionOptions;
}

/** Listens on UDP and TCP (same port) and returns a transport with runtime FaultControl. */
export async function openTransport(options: OpenTransportOptions = {}): Promise<FaultInjectingTransport> {
  const inner = await UdpTcpTransport.listen(options);
  return new FaultInjectingTransport(inner, options.faults);
}
