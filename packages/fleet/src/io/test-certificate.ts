import { readFileSync } from "node:fs";

/**
 * A self-signed certificate for `localhost` and 127.0.0.1 (valid ten years
 * from November 2026), so fleets can serve HTTPS in tests and demos.
 * Test-only: its private key is public in this repository; never trust it
 * for anything real. Checkers reject it unless given it as `ca` (or told not
 * to verify), which is exactly what TLS tests need.
 */
export function testCertificate(): { key: string; cert: string } {
  return {
    key: readFileSync(new URL("./certs/localhost-key.pem", import.meta.url), "utf8"),
    cert: readFileSync(new URL("./certs/localhost-cert.pem", import.meta.url), "utf8"),
  };
}
