// Starts a command-line entry written in TypeScript without a build step to
// remember and without tsx's cost at every start (about 1.5 to 2 s of CPU to
// compile the sources through its loader, against a few tenths for one
// prebuilt file). The first start bundles the entry with esbuild into the
// package's node_modules/.cache (build.js, in a child process); every later
// start checks the bundle's fingerprint (every file it was built from, read
// again from disk) and runs it. A changed file means a rebuild: a stale
// bundle never runs. Without esbuild, when bundling fails, or with
// HECK_TSX=1, the entry runs from source through tsx as before.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { fingerprint, snapshot, statKey } from "./fingerprint.js";

const builder = fileURLToPath(new URL("./build.js", import.meta.url));

/** The manifest's bundle when its fingerprint matches the files on disk now, else undefined. */
function freshBundle(manifestPath) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  } catch {
    return undefined;
  }
  if (!Array.isArray(manifest.files) || typeof manifest.entry !== "string" || !existsSync(manifest.entry)) return undefined;
  const stats = manifest.stats ?? {};
  const unchanged = (file) => {
    try {
      return statKey(file) === stats[file];
    } catch {
      return false;
    }
  };
  if (manifest.files.every(unchanged)) return manifest.entry;
  // Something was touched, checked out or copied: the contents decide.
  const now = new Map();
  const fp = fingerprint(manifest.files, (file) => {
    const s = snapshot(file);
    now.set(file, s.key);
    return s.content;
  });
  if (fp !== manifest.fingerprint) return undefined;
  // Same contents: record the new stats so the next start is quick again.
  try {
    const partial = `${manifestPath}.partial-${process.pid}`;
    writeFileSync(partial, JSON.stringify({ ...manifest, stats: Object.fromEntries(now) }, null, 1));
    renameSync(partial, manifestPath);
  } catch {
    // A read-only cache only costs the hashing again next time.
  }
  return manifest.entry;
}

function packageDir(file) {
  let dir = dirname(file);
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/**
 * Imports the TypeScript module at `entryUrl` (a file URL) from a cached
 * esbuild bundle, building it when missing or stale, or through tsx when it
 * cannot be bundled or `useTsx` is set; resolves to the module's namespace.
 */
export async function importEntry(entryUrl, { name = "heck", useTsx = process.env.HECK_TSX === "1" } = {}) {
  const entry = fileURLToPath(entryUrl);
  if (!useTsx) {
    const pkg = packageDir(entry);
    const manifestPath = join(pkg, "node_modules", ".cache", "heck-bundles", `${relative(pkg, entry).replace(/[^A-Za-z0-9]+/g, "_")}.json`);
    let bundle = freshBundle(manifestPath);
    if (bundle === undefined) {
      const r = spawnSync(process.execPath, [builder, entry, manifestPath], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
      if (r.status === 0) bundle = freshBundle(manifestPath);
      else if (r.status !== 3) {
        const why = (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim().split("\n")[0];
        process.stderr.write(`${name}: bundling with esbuild failed (${why}); running through tsx\n`);
      }
    }
    if (bundle !== undefined) {
      // Stack traces name the .ts file and line, as they did under tsx.
      process.setSourceMapsEnabled(true);
      return import(pathToFileURL(bundle).href);
    }
  }
  const { register } = await import("tsx/esm/api");
  register();
  return import(entryUrl);
}
