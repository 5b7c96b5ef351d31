/**
 * Bundles the page (src/page/main.ts) and every stage's core it runs into
 * one browser script with esbuild.
 *
 * The stages' package entry points also export their Node edges (UDP and TCP
 * transports, HTTP servers, files), which a browser cannot load. The cores
 * and simulations themselves are pure, so for the browser each such package
 * resolves to just the pure modules the view uses, listed here; a name
 * missing from a list fails the build, never the page.
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

const PACKAGES = fileURLToPath(new URL("../../../", import.meta.url));

/** For each package: the pure modules (relative to the repository's packages/ or apps/) and the names taken from each ("*": all of them). */
const BROWSER_ENTRIES: Record<string, ReadonlyArray<readonly [string, readonly string[] | "*"]>> = {
  "@heck/swim": [
    ["swim/src/sim/cluster.ts", ["SwimCluster", "VIEW_RULES", "swimCodec"]],
    ["swim/src/core/codec.ts", ["decodeMessage", "encodeMessage"]],
    ["swim/src/core/node.ts", ["SwimNode", "recoverIncarnation"]],
    ["swim/src/core/config.ts", ["presetConfig", "resolveConfig", "detectionBoundMs", "lanConfig"]],
    ["swim/src/sim/sweep-scenario.ts", ["swimSweepOptions", "POWER_LOSS"]],
  ],
  "@heck/crdt-kv": [
    ["crdt-kv/src/core/store/node.ts", ["KvNode"]],
    ["crdt-kv/src/core/store/messages.ts", ["kvCodec", "wireOf"]],
    ["crdt-kv/src/core/store/persistence.ts", ["diskFromWal"]],
    ["crdt-kv/src/core/store/wire-input.ts", ["receiveWire"]],
    ["crdt-kv/src/sim/sweep-scenario.ts", ["crdtSweep"]],
  ],
  "@heck/ownership": [["ownership/src/core/rendezvous.ts", ["ownersOf"]]],
  // The coordination ladder's stores (@heck/compare) take raft-kv's core from its root: all of it is pure.
  "@heck/raft-kv": [
    ["raft-kv/src/core/raft/index.ts", "*"],
    ["raft-kv/src/core/kv/index.ts", "*"],
    ["raft-kv/src/core/replica/index.ts", "*"],
  ],
};

/** Resolves the stage packages to their pure modules (see the file comment). */
export function pureEntriesPlugin(): Plugin {
  return {
    name: "heck-pure-entries",
    setup(b) {
      b.onResolve({ filter: /^@heck\/(swim|crdt-kv|ownership|raft-kv)$/ }, (args) => ({ path: args.path, namespace: "heck-pure" }));
      b.onLoad({ filter: /.*/, namespace: "heck-pure" }, (args) => ({
        contents: BROWSER_ENTRIES[args.path]!.map(([file, names]) => `export ${names === "*" ? "*" : `{ ${names.join(", ")} }`} from ${JSON.stringify(PACKAGES + file)};`).join("\n"),
        resolveDir: PACKAGES,
        loader: "ts",
      }));
    },
  };
}

/** The page: its HTML and its one script. */
export interface PageFiles {
  html: string;
  script: string;
}

/** Builds the page (minified unless `debug`). Throws esbuild's errors as one message. */
export async function buildPage(options: { debug?: boolean } = {}): Promise<PageFiles> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL("../page/main.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    minify: options.debug !== true,
    sourcemap: options.debug === true ? "inline" : false,
    logLevel: "silent",
    plugins: [pureEntriesPlugin()],
  });
  const script = result.outputFiles[0]!.text;
  const html = await readFile(fileURLToPath(new URL("../page/index.html", import.meta.url)), "utf8");
  return { html, script };
}
