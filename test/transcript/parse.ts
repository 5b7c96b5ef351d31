/**
 * Finds the transcripts in a Markdown file: fenced ```console blocks whose
 * `$ ` lines are commands and whose other lines are the output to expect.
 * The syntax is documented for contributors in docs/transcripts.md; in short:
 *
 *     <!-- transcript: slow session=cluster wait=20 timeout=90 -->
 *     ```console
 *     $ pnpm heck-raft put greeting hello
 *     OK
 *     $ pnpm heck-raft cluster up &
 *     n1  pid {{pid:n1}}  http 127.0.0.1:15001 ...
 *     ```
 *
 * The comment on the line just above a fence sets the block's options; a
 * `console` block without one is a fast transcript in the file's default
 * session. `<!-- transcript: illustrative -->` marks a block that is shown,
 * never run. Shell blocks (sh, bash, shell) must be transcripts or marked
 * illustrative, so nothing a reader may copy goes untested by accident.
 */

/** Options a block's marker comment may set. */
export interface BlockOptions {
  /** Shown, never run. */
  illustrative: boolean;
  /** Runs only under `pnpm test:docs` (the session becomes slow). */
  slow: boolean;
  /** Blocks of one session share a shell, a scratch directory, background processes and bound placeholders. */
  session: string;
  /** Each command may be re-run until its output matches, for at most this long after its first answer. */
  waitMs: number;
  /** The longest a command (or a background command's expected output) may take. */
  timeoutMs: number;
}

/** One `$ ` command and the lines expected after it. */
export interface TranscriptCommand {
  /** The command as a shell reads it (continuation lines joined with newlines). */
  text: string;
  /** Ends in ` &`: started in the background, its expected lines are the first it prints. */
  background: boolean;
  /** The lines shown after the command, up to the next command or the fence. */
  expected: string[];
  /** 1-based line of the `$ ` in the Markdown file. */
  line: number;
}

/** A fenced block that is a transcript (or marked illustrative). */
export interface TranscriptBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The nearest Markdown heading above the block (`Run it`), or "" before the first heading. */
  section: string;
  info: string;
  options: BlockOptions;
  commands: TranscriptCommand[];
}

/** A block the checker refuses, with the reason. */
export interface BlockProblem {
  file: string;
  line: number;
  message: string;
}

const SHELL_INFOS = new Set(["sh", "bash", "shell", "zsh"]);
// Generous: a command on a busy 2-core machine can take tens of seconds to start; this only bounds a hang.
export const DEFAULT_TIMEOUT_MS = 180_000;

/** Parses a marker comment's body (`slow session=x wait=20`) into options. */
export function parseMarker(body: string, file: string, line: number): { options: BlockOptions; problems: BlockProblem[] } {
  const options: BlockOptions = { illustrative: false, slow: false, session: "main", waitMs: 0, timeoutMs: DEFAULT_TIMEOUT_MS };
  const problems: BlockProblem[] = [];
  for (const token of body.trim().split(/\s+/).filter((t) => t !== "")) {
    const [key, value] = token.includes("=") ? [token.slice(0, token.indexOf("=")), token.slice(token.indexOf("=") + 1)] : [token, undefined];
    const seconds = () => {
      const n = Number(value);
      if (value === undefined || !Number.isFinite(n) || n <= 0) {
        problems.push({ file, line, message: `transcript marker: ${key}= needs a number of seconds, got ${JSON.stringify(value ?? "")}` });
        return 0;
      }
      return n * 1000;
    };
    if (key === "illustrative" && value === undefined) options.illustrative = true;
    else if (key === "slow" && value === undefined) options.slow = true;
    else if (key === "session" && value !== undefined && /^[A-Za-z0-9_.-]+$/.test(value)) options.session = value;
    else if (key === "wait") options.waitMs = seconds();
    else if (key === "timeout") options.timeoutMs = seconds();
    else problems.push({ file, line, message: `transcript marker: unknown option ${JSON.stringify(token)} (known: illustrative, slow, session=NAME, wait=S, timeout=S)` });
  }
  return { options, problems };
}

/** Splits a console block's lines into commands with their expected output. */
export function parseCommands(lines: string[], firstLine: number, file: string): { commands: TranscriptCommand[]; problems: BlockProblem[] } {
  const commands: TranscriptCommand[] = [];
  const problems: BlockProblem[] = [];
  let i = 0;
  while (i < lines.length) {
    const raw = lines[i]!;
    if (!raw.startsWith("$ ")) {
      if (commands.length === 0) {
        if (raw.trim() !== "") problems.push({ file, line: firstLine + i, message: "output before the first `$ ` command" });
      } else commands[commands.length - 1]!.expected.push(raw);
      i += 1;
      continue;
    }
    const line = firstLine + i;
    let text = raw.slice(2);
    while (text.endsWith("\\") && i + 1 < lines.length) {
      i += 1;
      text = text + "\n" + lines[i]!;
    }
    const trimmed = text.trimEnd();
    const background = /[^&]&$/.test(trimmed);
    commands.push({ text: background ? trimmed.slice(0, -1).trimEnd() : trimmed, background, expected: [], line });
    i += 1;
  }
  for (const c of commands) while (c.expected.length > 0 && c.expected[c.expected.length - 1]!.trim() === "") c.expected.pop();
  if (commands.length === 0) problems.push({ file, line: firstLine, message: "a console block with no `$ ` command" });
  return { commands, problems };
}

/**
 * Every transcript block of a Markdown file, in order, and every block the
 * checker refuses (a shell block without a marker, a bad marker option).
 */
export function parseTranscripts(markdown: string, file: string): { blocks: TranscriptBlock[]; problems: BlockProblem[] } {
  const lines = markdown.split("\n");
  const blocks: TranscriptBlock[] = [];
  const problems: BlockProblem[] = [];
  let section = "";
  let i = 0;
  while (i < lines.length) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)\s*$/.exec(lines[i]!);
    if (open === null) {
      const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(lines[i]!);
      if (heading !== null) section = heading[1]!;
      i += 1;
      continue;
    }
    const fence = open[2]!;
    const info = open[3]!.toLowerCase();
    const start = i;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence)) end += 1;
    const body = lines.slice(start + 1, end);
    i = end + 1;
    // The marker is the nearest non-empty line above the fence, if it is a transcript comment.
    let above = start - 1;
    while (above >= 0 && lines[above]!.trim() === "") above -= 1;
    const marker = above >= 0 ? /^<!--\s*transcript:?(.*?)-->\s*$/.exec(lines[above]!.trim()) : null;
    const isConsole = info === "console";
    if (marker === null && !isConsole) {
      if (SHELL_INFOS.has(info)) problems.push({ file, line: start + 1, message: `a \`${info}\` block: make it a \`console\` transcript ($ commands and their output) or mark it <!-- transcript: illustrative -->` });
      else if (info === "" && body.some((l) => l.startsWith("$ "))) problems.push({ file, line: start + 1, message: "a plain block with `$ ` commands: label it ```console to run it, or mark it <!-- transcript: illustrative -->" });
      continue;
    }
    const parsed = parseMarker(marker?.[1] ?? "", file, above + 1);
    problems.push(...parsed.problems);
    if (parsed.options.illustrative) {
      blocks.push({ file, line: start + 1, section, info, options: parsed.options, commands: [] });
      continue;
    }
    if (!isConsole) {
      problems.push({ file, line: start + 1, message: `a transcript marker on a \`${info || "plain"}\` block: transcripts are \`console\` blocks` });
      continue;
    }
    const cmds = parseCommands(body, start + 2, file);
    problems.push(...cmds.problems);
    blocks.push({ file, line: start + 1, section, info, options: parsed.options, commands: cmds.commands });
  }
  return { blocks, problems };
}

/** A file's runnable blocks grouped by session, in order of first appearance. */
export interface TranscriptSession {
  file: string;
  name: string;
  slow: boolean;
  blocks: TranscriptBlock[];
}

/** Groups the runnable (not illustrative) blocks of one file into sessions; a session with any slow block is slow. */
export function sessionsOf(blocks: TranscriptBlock[]): TranscriptSession[] {
  const byName = new Map<string, TranscriptSession>();
  for (const b of blocks) {
    if (b.options.illustrative) continue;
    let s = byName.get(b.options.session);
    if (s === undefined) {
      s = { file: b.file, name: b.options.session, slow: false, blocks: [] };
      byName.set(b.options.session, s);
    }
    s.blocks.push(b);
    if (b.options.slow) s.slow = true;
  }
  return [...byName.values()];
}
