import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { parseConfig, type CheckerConfig } from "../core/config.ts";
import type { Parsed } from "../core/types.ts";

/**
 * Reads a `heck-v1 run` config file: `.json` as JSON, `.yaml`/`.yml` as
 * YAML, anything else as JSON first and YAML second (YAML is a superset of
 * JSON). Never throws: a missing file, a syntax error (with its line) and
 * every invalid field come back as errors naming the file or the field.
 */
export async function loadConfigFile(path: string): Promise<Parsed<CheckerConfig>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    return { ok: false, errors: [`--config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`] };
  }
  return parseConfigText(text, path);
}

/** Parses config text; `name` (a file name) picks the syntax by extension and prefixes syntax errors. */
export function parseConfigText(text: string, name: string): Parsed<CheckerConfig> {
  const ext = extname(name).toLowerCase();
  let data: unknown;
  if (ext === ".json") {
    try {
      data = JSON.parse(text);
    } catch (err) {
      return { ok: false, errors: [`${name}: not valid JSON (${(err as Error).message})`] };
    }
  } else {
    try {
      data = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    } catch (err) {
      const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}` : "";
      return { ok: false, errors: [`${name}: not valid ${ext === ".yaml" || ext === ".yml" ? "YAML" : "JSON or YAML"}${where}: ${(err as Error).message.split("\n")[0]}`] };
    }
  }
  if (data === null || data === undefined) return { ok: false, errors: [`${name}: empty; expected {"defaults": {...}, "targets": [...]}`] };
  return parseConfig(data);
}
