// Bundles one TypeScript entry with esbuild into the package's cache and
// writes its manifest (the files it was built from and their fingerprint).
// Run by run.js in a child process on a cache miss, so a command's own
// process never loads esbuild. Usage: node build.js <entry.ts> <manifest.json>.
// Exit code 3: esbuild is not installed.
//
// What the bundle keeps as it was under tsx:
// - Workspace sources are bundled; everything under node_modules stays an
//   import of the very file Node would have loaded, by absolute path, so a
//   dependency of a dependency resolves as before and nothing is loaded twice.
// - Dynamic imports stay lazy: code splitting puts each in its own chunk.
// - `import.meta.url` in each source is that source's own URL, so files found
//   relative to it (bench files, Go driver sources, page assets, proto files,
//   the bins a CLI spawns) are found where they were.
// - Names: keepNames, so `constructor.name` and `fn.name` are what the source
//   says even where bundling renames a clashing top-level identifier.
// - Source maps, so a stack trace names the .ts file and line.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { fingerprint, snapshot } from "./fingerprint.js";

const [entry, manifestPath] = process.argv.slice(2);
if (entry === undefined || manifestPath === undefined) {
  process.stderr.write("usage: build.js <entry.ts> <manifest.json>\n");
  process.exit(2);
}

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  process.exit(3);
}

const LOADERS = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".tsx": "tsx", ".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "jsx", ".json": "json" };
const inNodeModules = (file) => file.split(sep).includes("node_modules");
/** Every bundled source as esbuild read it (statKey and content): the fingerprint covers exactly what was built. */
const read = new Map();

const heckSources = {
  name: "heck-sources",
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData?.heckResolving || args.kind === "entry-point" || isAbsolute(args.path)) return undefined;
      const found = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { heckResolving: true } });
      if (found.errors.length > 0) return { errors: found.errors };
      if (found.external) return { path: found.path, external: true };
      if (inNodeModules(found.path)) return { path: pathToFileURL(found.path).href, external: true };
      return { path: found.path };
    });
    build.onLoad({ filter: /.*/ }, (args) => {
      if (args.namespace !== "file" || inNodeModules(args.path)) return undefined;
      const file = snapshot(args.path);
      read.set(args.path, file);
      const content = file.content;
      const loader = LOADERS[extname(args.path)];
      if (loader === undefined) return undefined;
      const own = JSON.stringify(pathToFileURL(args.path).href);
      return { contents: content.toString("utf8").replace(/\bimport\.meta\.url\b/g, own), loader, resolveDir: dirname(args.path) };
    });
  },
};

const cacheDir = dirname(manifestPath);
const key = basename(manifestPath, ".json");
mkdirSync(cacheDir, { recursive: true });
const partial = join(cacheDir, `${key}.partial-${process.pid}`);
rmSync(partial, { recursive: true, force: true });
const result = await esbuild.build({
  entryPoints: { entry },
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Only the conditions Node itself applies (esbuild would add "module").
  conditions: [],
  outdir: partial,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunk-[hash]",
  sourcemap: "linked",
  sourcesContent: false,
  keepNames: true,
  metafile: true,
  logLevel: "silent",
  plugins: [heckSources],
});

// Beside the sources: each package's package.json and tsconfig chain (they
// decide resolution and compilation), the installed dependency lock, this
// launcher.
const extra = new Set([fileURLToPath(new URL("./build.js", import.meta.url)), fileURLToPath(new URL("./run.js", import.meta.url)), fileURLToPath(new URL("./fingerprint.js", import.meta.url))]);
const addTsconfigChain = (file) => {
  while (file !== undefined && existsSync(file) && !extra.has(file)) {
    extra.add(file);
    const extendsPath = /"extends"\s*:\s*"([^"]+)"/.exec(readFileSync(file, "utf8"))?.[1];
    file = extendsPath !== undefined && extendsPath.startsWith(".") ? resolve(dirname(file), extendsPath) : undefined;
  }
};
for (const source of read.keys()) {
  let dir = dirname(source);
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  extra.add(join(dir, "package.json"));
  addTsconfigChain(join(dir, "tsconfig.json"));
}
for (let dir = dirname(entry); ; dir = dirname(dir)) {
  const lock = join(dir, "node_modules", ".pnpm", "lock.yaml");
  if (existsSync(lock)) {
    extra.add(lock);
    break;
  }
  if (dirname(dir) === dir) break;
}
for (const file of Object.keys(result.metafile.inputs)) {
  const abs = resolve(file);
  if (!read.has(abs) && !inNodeModules(abs)) read.set(abs, snapshot(abs));
}
for (const file of extra) if (!read.has(file)) read.set(file, snapshot(file));
const files = [...read.keys()].sort();
const fp = fingerprint(files, (file) => read.get(file).content);
const stats = Object.fromEntries(files.map((file) => [file, read.get(file).key]));

// Publish by rename, so a concurrent start never sees half a bundle; two
// builders of the same fingerprint wrote the same files, and the first wins.
const outDir = join(cacheDir, `${key}@${fp.slice(0, 16)}`);
try {
  renameSync(partial, outDir);
} catch {
  rmSync(partial, { recursive: true, force: true });
}
const manifestPartial = `${manifestPath}.partial-${process.pid}`;
writeFileSync(manifestPartial, JSON.stringify({ fingerprint: fp, entry: join(outDir, "entry.mjs"), files, stats }, null, 1));
renameSync(manifestPartial, manifestPath);

// Bundles of older fingerprints go once no process can still be loading a
// lazy chunk from them.
const dayMs = 24 * 60 * 60 * 1000;
for (const name of readdirSync(cacheDir)) {
  const dir = join(cacheDir, name);
  if ((name.startsWith(`${key}@`) || name.startsWith(`${key}.partial-`)) && dir !== outDir) {
    try {
      if (Date.now() - statSync(dir).mtimeMs > dayMs) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another builder removed it first.
    }
  }
}
