import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

/**
 * The Markdown files whose transcripts are checked: the root README, docs/,
 * and every package's and app's Markdown (READMEs, REFERENCE.md, notes),
 * relative to `root`, in a stable order.
 */
export function docFiles(root: string): string[] {
  const out: string[] = ["README.md"];
  const walk = (rel: string) => {
    const abs = path.join(root, rel);
    if (!existsSync(abs)) return;
    for (const entry of readdirSync(abs).sort()) {
      if (entry === "node_modules" || entry === "dist" || entry.startsWith(".") || entry === "fixtures") continue;
      const child = path.join(rel, entry);
      if (statSync(path.join(root, child)).isDirectory()) walk(child);
      else if (entry.endsWith(".md")) out.push(child);
    }
  };
  for (const dir of ["docs", "packages", "apps"]) walk(dir);
  return out;
}
