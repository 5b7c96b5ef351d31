/**
 * Builds the Go reference driver (bench/memberlist-node) once, offline, from
 * Debian's packages: Go and hashicorp/memberlist 0.2.2 with its dependencies
 * under /usr/share/gocode, in GOPATH mode (scripts/ensure-system-deps.sh
 * installs them). The binary is cached under node_modules/.cache by a hash
 * of the driver's source, the Go version and the installed memberlist
 * package, so a test run or a benchmark builds it at most once; concurrent
 * callers (vitest runs test files in parallel) wait on a lock directory.
 */
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const source = path.join(here, "memberlist-node");
const cacheRoot = path.resolve(here, "../../../node_modules/.cache/heck-memberlist-node");
/** Where Debian puts memberlist's sources. */
export const MEMBERLIST_SOURCES = "/usr/share/gocode/src/github.com/hashicorp/memberlist";

function output(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "";
}

/** Why the driver cannot be built here, or undefined when it can. */
export function memberlistUnavailable(): string | undefined {
  if (output("go", ["version"]) === "") return "Go is not installed (run scripts/ensure-system-deps.sh test, which installs golang-go)";
  if (!existsSync(MEMBERLIST_SOURCES)) return "memberlist's sources are not installed (run scripts/ensure-system-deps.sh test, which installs golang-github-hashicorp-memberlist-dev)";
  return undefined;
}

/** The path of the built driver, building it if this source, Go and memberlist have not been built before. Throws with the build's output on failure. */
export function memberlistNodeBinary(): string {
  const why = memberlistUnavailable();
  if (why !== undefined) throw new Error(`memberlist-node: ${why}`);
  const hash = createHash("sha256");
  for (const f of readdirSync(source).sort()) hash.update(f).update(readFileSync(path.join(source, f)));
  hash.update(output("go", ["version"]));
  hash.update(output("dpkg-query", ["-W", "-f=${Version}", "golang-github-hashicorp-memberlist-dev"]));
  const key = hash.digest("hex").slice(0, 16);
  const bin = path.join(cacheRoot, key, "memberlist-node");
  if (existsSync(bin)) return bin;

  mkdirSync(cacheRoot, { recursive: true });
  const lock = path.join(cacheRoot, `${key}.lock`);
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (existsSync(bin)) return bin;
      // A lock older than the deadline belongs to a build that died.
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`memberlist-node: waited 300 s for another build (${lock})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    if (existsSync(bin)) return bin;
    const gopath = path.join(cacheRoot, key, "gopath");
    const src = path.join(gopath, "src", "memberlist-node");
    rmSync(gopath, { recursive: true, force: true });
    mkdirSync(path.dirname(src), { recursive: true });
    symlinkSync(source, src);
    const tmp = `${bin}.tmp`;
    const res = spawnSync("go", ["build", "-o", tmp, "."], {
      cwd: src,
      env: { ...process.env, GO111MODULE: "off", GOPATH: `${gopath}:/usr/share/gocode`, GOFLAGS: "", GOCACHE: path.join(cacheRoot, "gocache") },
      encoding: "utf8",
    });
    if (res.status !== 0) throw new Error(`memberlist-node: go build failed:\n${res.stderr}`);
    renameSync(tmp, bin);
    rmSync(gopath, { recursive: true, force: true });
    return bin;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
