import { describeTransportContract, realHarness, simHarness } from "./support/transport-contract.ts";

// The same behaviours, checked on the simulated network and on real sockets.
describeTransportContract("SimNetwork", () => simHarness(7));
describeTransportContract("UDP+TCP on loopback", () => realHarness());
