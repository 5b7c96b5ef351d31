/**
 * The one piece of I/O the CLI needs: reading an origins file. A value made
 * only of digits is a count instead (`--origins 1000`).
 */
import { readFileSync } from "node:fs";
import { OwnershipInputError } from "../core/errors.ts";
import { generateOrigins, isOriginCount, parseOriginsText } from "../core/parse.ts";

/** Resolves `--origins <file|count>` to origin ids; errors name the flag and the file. */
export function loadOrigins(spec: string, flag = "--origins"): string[] {
  if (spec === undefined || spec.trim() === "") throw new OwnershipInputError(flag, "needs a file (one origin per line) or a count, e.g. --origins 1000");
  if (isOriginCount(spec)) return generateOrigins(spec, flag);
  let bytes: Buffer;
  try {
    bytes = readFileSync(spec);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new OwnershipInputError(flag, `cannot read file ${JSON.stringify(spec)} (${code}); give a file with one origin per line, or a count`);
  }
  // A binary file (an image, a tarball passed by mistake) is refused whole
  // rather than read as thousands of mangled origin names.
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new OwnershipInputError(flag, `${spec} is not UTF-8 text (a binary file?); give a file with one origin per line`);
  }
  return parseOriginsText(text, spec, flag);
}
