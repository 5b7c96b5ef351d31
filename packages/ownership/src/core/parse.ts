/**
 * Parsing of the CLI's list arguments, kept pure (and here, not in cli.ts) so
 * it is tested directly. Errors name the flag.
 */
import { OwnershipInputError } from "./errors.ts";
import type { MemberInput } from "./members.ts";

/** The largest member count `--members <count>` accepts. */
export const MAX_GENERATED_MEMBERS = 10_000;

/**
 * Parses "a,b=2,c" into members: a bare id has weight 1, "id=w" sets the
 * weight. Ids may contain ":" (host:port) but not "," or "=". For --members,
 * a bare count N means n1..nN.
 */
export function parseMemberList(spec: string, flag = "--members"): MemberInput[] {
  if (typeof spec !== "string" || spec.trim() === "") throw new OwnershipInputError(flag, "needs a comma-separated list of member ids, e.g. a,b,c");
  if (flag === "--members" && /^[0-9]+$/.test(spec.trim())) {
    // A bare count is shorthand for n1..nN, handy for trying 20 or 100 members.
    const n = Number(spec.trim());
    if (n < 1 || n > MAX_GENERATED_MEMBERS) throw new OwnershipInputError(flag, `count must be from 1 to ${MAX_GENERATED_MEMBERS}, got ${spec.trim()}`);
    return Array.from({ length: n }, (_, i) => `n${i + 1}`);
  }
  return spec.split(",").map((raw, i) => {
    const item = raw.trim();
    if (item === "") throw new OwnershipInputError(flag, `member ${i + 1} is empty (stray comma?) in ${JSON.stringify(spec)}`);
    const eq = item.indexOf("=");
    if (eq < 0) return item;
    const id = item.slice(0, eq).trim();
    const w = item.slice(eq + 1).trim();
    if (id === "") throw new OwnershipInputError(flag, `member ${i + 1} has a weight but no id: ${JSON.stringify(item)}`);
    const weight = Number(w);
    if (w === "" || !Number.isFinite(weight) || weight <= 0) {
      throw new OwnershipInputError(flag, `weight of ${JSON.stringify(id)} must be a number > 0, got ${JSON.stringify(w)}`);
    }
    return { id, weight };
  });
}

/** The largest origin count `--origins <count>` accepts (memory stays under ~200 MB). */
export const MAX_GENERATED_ORIGINS = 2_000_000;

/** True when an --origins value is a count rather than a file path. */
export function isOriginCount(spec: string): boolean {
  return /^[0-9]+$/.test(spec.trim());
}

/** `--origins <count>`: the ids origin-1 .. origin-<count>. */
export function generateOrigins(spec: string, flag = "--origins"): string[] {
  const n = Number(spec.trim());
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_GENERATED_ORIGINS) {
    throw new OwnershipInputError(flag, `count must be from 1 to ${MAX_GENERATED_ORIGINS}, got ${spec}`);
  }
  return Array.from({ length: n }, (_, i) => `origin-${i + 1}`);
}

/**
 * An origins file's text: one origin per line; surrounding blanks trimmed;
 * empty lines and lines starting with "#" skipped; duplicates rejected with
 * both line numbers.
 */
export function parseOriginsText(text: string, source: string, flag = "--origins"): string[] {
  const origins: string[] = [];
  const lineOf = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    // Control characters never belong in an origin (a URL or a host name); they mean a binary file.
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(line)) throw new OwnershipInputError(flag, `${source}:${i + 1}: an origin cannot contain control characters (a binary file?)`);
    const first = lineOf.get(line);
    if (first !== undefined) throw new OwnershipInputError(flag, `${source}:${i + 1}: duplicate origin ${JSON.stringify(line)} (first on line ${first})`);
    lineOf.set(line, i + 1);
    origins.push(line);
  });
  if (origins.length === 0) throw new OwnershipInputError(flag, `${source} has no origins (one per line; blank lines and # comments are skipped)`);
  return origins;
}
