import { generateKey, keyringFromBase64 } from "../src/io/keyring.ts";
import { describeTransportContract, realHarness, simHarness } from "./support/transport-contract.ts";

// The same behaviours, checked on the simulated network and on real sockets.
describeTransportContract("SimNetwork", () => simHarness(7));
describeTransportContract("UDP+TCP on loopback", () => realHarness());

// The encrypted transport keeps every promise of the plaintext one (keys: an old one installed, a new primary).
const primary = generateKey();
const old = generateKey();
describeTransportContract("UDP+TCP on loopback, AES-256-GCM keyring", () => realHarness({ keyring: () => keyringFromBase64([primary, old]) }));
