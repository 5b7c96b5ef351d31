/** Test certificates made with openssl: a CA, a server certificate for 127.0.0.1, and client certificates by common name. */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/** PEM files in `dir`: ca.crt, server.crt/.key, and <cn>.crt/.key per client. */
export interface TestCerts {
  dir: string;
  ca: Buffer;
  server: { cert: Buffer; key: Buffer };
  client(cn: string): { cert: Buffer; key: Buffer };
  file(name: string): string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** Makes a CA in `dir` and certificates it signs: the server's (SAN 127.0.0.1, localhost) and one per client common name. */
export function makeCerts(dir: string, clients: string[]): TestCerts {
  fs.mkdirSync(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(dir, ["req", "-x509", ...ec, "-days", "2", "-subj", "/CN=heck-test-ca", "-keyout", "ca.key", "-out", "ca.crt"]);
  const sign = (name: string, cn: string, san: string) => {
    openssl(dir, ["req", ...ec, "-subj", `/CN=${cn}`, "-keyout", `${name}.key`, "-out", `${name}.csr`]);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.crt`]);
  };
  sign("server", "server", "IP:127.0.0.1,DNS:localhost");
  for (const cn of clients) sign(cn, cn, `DNS:${cn}`);
  const read = (f: string) => fs.readFileSync(path.join(dir, f));
  return {
    dir,
    ca: read("ca.crt"),
    server: { cert: read("server.crt"), key: read("server.key") },
    client: (cn) => ({ cert: read(`${cn}.crt`), key: read(`${cn}.key`) }),
    file: (name) => path.join(dir, name),
  };
}
