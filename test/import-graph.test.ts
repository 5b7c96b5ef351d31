import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

// No import circle under apps/ nor in the comparison (packages/compare): a
// file that imports (even only a type from) a file that imports it back is
// two files that cannot be read, changed or tested one at a time. The graph
// is every relative import and re-export between the .ts files of each
// one's src/, type-only ones included; a cycle is reported as the chain of
// files that forms it.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === "node_modules" ? [] : tsFiles(full);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [full] : [];
  });
}

/** Relative module specifiers of `import ... from`, `export ... from`, `import("...")` and side-effect imports. */
export function relativeImports(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:^|[;\s])(?:import|export)\b[^;"'`]*?\bfrom\s*["']([^"']+)["']/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/(?:^|[;\s])import\s*["']([^"']+)["']/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) specs.push(m[1]!);
  return specs.filter((s) => s.startsWith("."));
}

/** The import graph of the .ts files under `dir`: file -> files it imports. */
function importGraph(dir: string): Map<string, string[]> {
  const files = tsFiles(dir);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = relativeImports(readFileSync(file, "utf8"))
      .map((spec) => path.resolve(path.dirname(file), spec))
      .map((t) => (known.has(t) ? t : known.has(`${t}.ts`) ? `${t}.ts` : known.has(path.join(t, "index.ts")) ? path.join(t, "index.ts") : undefined))
      .filter((t): t is string => t !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Every cycle's files in import order (one per strongly connected component, Tarjan's algorithm), shortest first. */
export function findCycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      for (;;) {
        const w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(component);
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  // Show each component as one concrete loop: from its first file, follow imports inside it back to the start.
  return components
    .map((c) => {
      const inside = new Set(c);
      const start = [...c].sort()[0]!;
      const previous = new Map<string, string>();
      const queue = [start];
      while (queue.length > 0) {
        const v = queue.shift()!;
        for (const w of graph.get(v) ?? []) {
          if (!inside.has(w)) continue;
          if (w === start) {
            const loop = [v];
            while (loop[0] !== start) loop.unshift(previous.get(loop[0]!)!);
            return loop;
          }
          if (!previous.has(w)) {
            previous.set(w, v);
            queue.push(w);
          }
        }
      }
      return c;
    })
    .sort((a, b) => a.length - b.length);
}

describe("import graph", () => {
  it("finds the imports a file makes, type-only and re-exports included, and ignores comments and packages", () => {
    const source = [
      'import { a } from "./a.ts";',
      'import type { B } from "../b.ts";',
      'export { c } from "./c.ts";',
      'export type * from "./d.ts";',
      'import "./side-effect.ts";',
      'const lazy = await import("./lazy.ts");',
      'import { x } from "@heck/sim";',
      '// import { no } from "./commented.ts";',
      "/* import { no } from './block.ts'; */",
      "import {\n  many,\n  lines,\n} from './multi.ts';",
    ].join("\n");
    expect(relativeImports(source).sort()).toEqual(["../b.ts", "./a.ts", "./c.ts", "./d.ts", "./lazy.ts", "./multi.ts", "./side-effect.ts"].sort());
  });

  it("reports a circle as the chain of files that forms it", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a", "d"]],
      ["d", []],
      ["e", ["e"]],
    ]);
    expect(findCycles(g)).toEqual([["e"], ["a", "b", "c"]]);
  });

  // The comparison was written under this rule inside apps/v2 and keeps it as a package of its own.
  const apps = readdirSync(path.join(root, "apps")).filter((a) => statSync(path.join(root, "apps", a, "src"), { throwIfNoEntry: false })?.isDirectory());
  it.each([...apps.map((a) => `apps/${a}`), "packages/compare"])("%s/src has no import circle", (dir) => {
    const src = path.join(root, dir, "src");
    const cycles = findCycles(importGraph(src)).map((c) => [...c, c[0]!].map((f) => path.relative(src, f)).join(" -> "));
    expect(cycles).toEqual([]);
  });
});
