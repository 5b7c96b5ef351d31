/**
 * Compares what a command printed with what a transcript shows. Lines are
 * compared after trimming trailing spaces and folding runs of spaces and tabs
 * into one, so a table whose columns widen by a digit still matches. A line
 * that is exactly `...` matches any number of lines. `{{kind}}` matches what
 * varies from run to run; `{{kind:name}}` also binds the text it matched to
 * `name`, so later lines and later commands (`kill -9 {{pid:n1}}`) can use it.
 */

/** What each placeholder kind matches. */
export const PLACEHOLDER_KINDS: Readonly<Record<string, string>> = {
  pid: String.raw`\d+`,
  port: String.raw`\d+`,
  int: String.raw`-?\d+`,
  num: String.raw`-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?`,
  time: String.raw`(?:\d{4}-\d\d-\d\d[T ])?\d\d:\d\d:\d\d(?:\.\d+)?Z?`,
  duration: String.raw`\d+(?:\.\d+)?\s?(?:ns|µs|us|ms|s|min|m|h)`,
  hash: String.raw`[0-9a-fA-F]+`,
  hex: String.raw`[0-9a-fA-F]+`,
  word: String.raw`\S+`,
  path: String.raw`\S+`,
  any: String.raw`.*?`,
};

const PLACEHOLDER = /\{\{\s*([a-z]+)(?::([A-Za-z0-9_.-]+))?\s*\}\}/g;

/** Placeholders bound so far in a session: name -> the text it matched. */
export type Bindings = ReadonlyMap<string, string>;

/** The form both sides are compared in. */
export function normalizeLine(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/\r$/, "").replace(/[ \t]+/g, " ").trimEnd();
}

/** Splits output into normalized lines, dropping trailing empty ones. */
export function outputLines(text: string): string[] {
  const lines = text.split("\n").map(normalizeLine);
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

interface LinePattern {
  regex: RegExp;
  /** Capture group index -> placeholder name it binds. */
  captures: Array<{ group: string; name: string }>;
}

/** Unknown placeholder kinds are refused so a typo cannot silently match nothing. */
export class PlaceholderError extends Error {}

/** Turns one expected line into a regular expression, given what is already bound. */
export function linePattern(expected: string, bindings: Bindings): LinePattern {
  const line = normalizeLine(expected);
  let source = "";
  let last = 0;
  const captures: Array<{ group: string; name: string }> = [];
  const seenInLine = new Map<string, string>();
  for (const m of line.matchAll(PLACEHOLDER)) {
    const kind = m[1]!;
    const name = m[2];
    const pattern = PLACEHOLDER_KINDS[kind];
    if (pattern === undefined) throw new PlaceholderError(`unknown placeholder kind {{${kind}}} (known: ${Object.keys(PLACEHOLDER_KINDS).join(", ")})`);
    source += escapeRegExp(line.slice(last, m.index)).replace(/ /g, "[ \\t]+");
    last = m.index + m[0].length;
    if (name !== undefined && bindings.has(name)) source += escapeRegExp(bindings.get(name)!);
    else if (name !== undefined && seenInLine.has(name)) source += `\\k<${seenInLine.get(name)!}>`;
    else if (name !== undefined) {
      const group = `g${captures.length}`;
      captures.push({ group, name });
      seenInLine.set(name, group);
      source += `(?<${group}>${pattern})`;
    } else source += `(?:${pattern})`;
  }
  source += escapeRegExp(line.slice(last)).replace(/ /g, "[ \\t]+");
  return { regex: new RegExp(`^${source}$`), captures };
}

/** The result of matching one command's output. */
export type MatchResult = { ok: true; bindings: Map<string, string> } | { ok: false; reason: string };

/**
 * Matches `actual` lines against `expected` lines (each expected line may hold
 * placeholders; `...` matches any run of lines). With `prefix`, the expected
 * lines need only match the start of the output (a background command's first
 * lines). On success, returns the bindings extended with what was captured.
 */
export function matchOutput(expected: string[], actual: string[], bindings: Bindings, options: { prefix?: boolean } = {}): MatchResult {
  const exp = expected.map(normalizeLine);
  while (exp.length > 0 && exp[exp.length - 1] === "") exp.pop();
  if (options.prefix) exp.push("...");
  let furthest = { expectedIndex: 0, actualIndex: 0 };
  const note = (i: number, j: number) => {
    if (i > furthest.expectedIndex || (i === furthest.expectedIndex && j > furthest.actualIndex)) furthest = { expectedIndex: i, actualIndex: j };
  };
  const go = (i: number, j: number, bound: Map<string, string>): Map<string, string> | null => {
    note(i, j);
    if (i === exp.length) return j === actual.length ? bound : null;
    if (exp[i] === "...") {
      for (let k = j; k <= actual.length; k++) {
        const r = go(i + 1, k, bound);
        if (r !== null) return r;
      }
      return null;
    }
    if (j >= actual.length) return null;
    const p = linePattern(exp[i]!, bound);
    const m = p.regex.exec(actual[j]!);
    if (m === null) return null;
    let next = bound;
    if (p.captures.length > 0) {
      next = new Map(bound);
      for (const c of p.captures) next.set(c.name, m.groups![c.group]!);
    }
    return go(i + 1, j + 1, next);
  };
  const result = go(0, 0, new Map(bindings));
  if (result !== null) return { ok: true, bindings: result };
  const { expectedIndex, actualIndex } = furthest;
  const want = exp[expectedIndex];
  const got = actual[actualIndex];
  const reason =
    want === undefined
      ? `unexpected output from line ${actualIndex + 1} on: ${JSON.stringify(got)}`
      : got === undefined
        ? `output ended before the expected line ${expectedIndex + 1}: ${JSON.stringify(want)}`
        : `expected line ${expectedIndex + 1} ${JSON.stringify(want)}, got output line ${actualIndex + 1} ${JSON.stringify(got)}`;
  // A name bound by an earlier command must match the same text again: say so, or "term=6" against
  // "term={{int:t}}" reads like a matcher bug when t is still the term of three blocks ago.
  const earlier = want === undefined ? [] : [...want.matchAll(PLACEHOLDER)].map((m) => m[2]).filter((n): n is string => n !== undefined && bindings.has(n));
  const boundNote = earlier.length === 0 ? "" : ` (${[...new Set(earlier)].map((n) => `${n} is ${JSON.stringify(bindings.get(n))} from an earlier command; use a new name for a new value`).join("; ")})`;
  return { ok: false, reason: reason + boundNote };
}

/** Replaces `{{kind:name}}` in a command with what `name` is bound to; unbound names are an error. */
export function substitute(command: string, bindings: Bindings): string {
  return command.replace(PLACEHOLDER, (whole, _kind: string, name: string | undefined) => {
    if (name === undefined) throw new PlaceholderError(`a command cannot hold an anonymous placeholder (${whole}): name it in an earlier output, {{kind:name}}`);
    const value = bindings.get(name);
    if (value === undefined) throw new PlaceholderError(`${whole} is used before any output bound it`);
    return value;
  });
}
