import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { linePattern, matchOutput, outputLines, substitute } from "./transcript/match.ts";
import { parseTranscripts, sessionsOf, type TranscriptSession } from "./transcript/parse.ts";
import { groupAlive, rerunCommand, runSession, sessionTestName } from "./transcript/run.ts";

// The transcript runner behind test/docs.test.ts: parsing, matching with
// placeholders, and real runs of small fixture documents, including one that
// has drifted from what its command prints and must fail.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const fixture = (name: string) => path.join("test/fixtures/transcripts", name);

function sessionsFrom(file: string): TranscriptSession[] {
  const { blocks, problems } = parseTranscripts(readFileSync(path.join(root, file), "utf8"), file);
  expect(problems).toEqual([]);
  return sessionsOf(blocks);
}

describe("parsing", () => {
  it("splits a console block into commands and expected output, with markers and continuations", () => {
    const md = [
      "<!-- transcript: slow session=s wait=5 -->",
      "```console",
      "$ pnpm heck-raft put a \\",
      "    b",
      "OK",
      "$ pnpm heck-raft cluster up &",
      "n1 pid {{pid:n1}}",
      "```",
    ].join("\n");
    const { blocks, problems } = parseTranscripts(md, "x.md");
    expect(problems).toEqual([]);
    expect(blocks).toHaveLength(1);
    const b = blocks[0]!;
    expect(b.options).toMatchObject({ slow: true, session: "s", waitMs: 5000, illustrative: false });
    expect(b.commands.map((c) => [c.text, c.background, c.expected, c.line])).toEqual([
      ["pnpm heck-raft put a \\\n    b", false, ["OK"], 3],
      ["pnpm heck-raft cluster up", true, ["n1 pid {{pid:n1}}"], 6],
    ]);
  });

  it("refuses a shell block that is neither a transcript nor marked illustrative, and unknown options", () => {
    const md = ["```sh", "rm -rf build", "```", "", "<!-- transcript: fast-ish -->", "```console", "$ true", "```"].join("\n");
    const { problems } = parseTranscripts(md, "x.md");
    expect(problems.map((p) => p.line)).toEqual([1, 5]);
    expect(problems[0]!.message).toMatch(/illustrative/);
    expect(problems[1]!.message).toMatch(/unknown option "fast-ish"/);
  });

  it("groups blocks into sessions; one slow block makes its session slow", () => {
    const md = ["```console", "$ a", "```", "<!-- transcript: slow -->", "```console", "$ b", "```", "<!-- transcript: session=other -->", "```console", "$ c", "```"].join("\n");
    const sessions = sessionsOf(parseTranscripts(md, "x.md").blocks);
    expect(sessions.map((s) => [s.name, s.slow, s.blocks.length])).toEqual([
      ["main", true, 2],
      ["other", false, 1],
    ]);
  });
});

describe("naming sessions", () => {
  it("the rerun command a failure prints selects its session's test and no other", () => {
    const pattern = (cmd: string) => new RegExp(/-t '(.*)'$/.exec(cmd)![1]!);
    const main = { file: "packages/swim/README.md", name: "main", slow: false };
    const re = pattern(rerunCommand(main));
    expect(re.test(`transcripts ${sessionTestName(main)}`)).toBe(true);
    expect(re.test(`transcripts ${sessionTestName({ ...main, slow: true })}`)).toBe(true);
    expect(re.test(`transcripts ${sessionTestName({ ...main, name: "main-2" })}`)).toBe(false);
    expect(re.test(`transcripts ${sessionTestName({ ...main, file: "packages/sim/README.md" })}`)).toBe(false);
  });
});

describe("matching", () => {
  it("folds runs of spaces, so a widened column still matches", () => {
    expect(matchOutput(["n1  pid {{pid}}  http 127.0.0.1:15001"], outputLines("n1  pid 123456   http 127.0.0.1:15001\n"), new Map()).ok).toBe(true);
  });

  it("binds named placeholders and holds later uses to the same value", () => {
    const first = matchOutput(["pid {{pid:a}}"], ["pid 42"], new Map());
    expect(first.ok && first.bindings.get("a")).toBe("42");
    const bound = first.ok ? first.bindings : new Map<string, string>();
    expect(matchOutput(["again {{pid:a}}"], ["again 42"], bound).ok).toBe(true);
    expect(matchOutput(["again {{pid:a}}"], ["again 43"], bound).ok).toBe(false);
    expect(substitute("kill -9 {{pid:a}}", bound)).toBe("kill -9 42");
    expect(() => substitute("kill -9 {{pid:b}}", bound)).toThrow(/before any output bound it/);
  });

  it("matches each kind only where it should", () => {
    const ok = (pattern: string, text: string) => linePattern(pattern, new Map()).regex.test(text);
    expect(ok("at {{time}}", "at 2026-11-22T01:01:14.901Z")).toBe(true);
    expect(ok("at {{time}}", "at 01:01:14.901")).toBe(true);
    expect(ok("took {{duration}}", "took 1.25 s")).toBe(true);
    expect(ok("took {{duration}}", "took 412ms")).toBe(true);
    expect(ok("moved {{num}}", "moved 9,516")).toBe(true);
    expect(ok("pid {{pid}}", "pid abc")).toBe(false);
    expect(ok("id {{hash}}", "id d1c948c17e359a09")).toBe(true);
    expect(() => linePattern("{{colour}}", new Map())).toThrow(/unknown placeholder kind/);
  });

  it("says when a mismatch is a name bound by an earlier command", () => {
    const r = matchOutput(["term={{int:t}}"], ["term=6"], new Map([["t", "2"]]));
    expect(!r.ok && r.reason).toBe('expected line 1 "term={{int:t}}", got output line 1 "term=6" (t is "2" from an earlier command; use a new name for a new value)');
  });

  it("lets `...` stand for any run of lines, and reports where a mismatch is", () => {
    expect(matchOutput(["a", "...", "z"], ["a", "b", "c", "z"], new Map()).ok).toBe(true);
    expect(matchOutput(["a", "...", "z"], ["a", "z"], new Map()).ok).toBe(true);
    const r = matchOutput(["a", "b"], ["a", "c"], new Map());
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toBe('expected line 2 "b", got output line 2 "c"');
    expect(matchOutput(["a"], ["a", "extra"], new Map()).ok).toBe(false);
    expect(matchOutput(["a"], ["a", "extra"], new Map(), { prefix: true }).ok).toBe(true);
  });
});

describe("running against real processes", () => {
  it("passes a transcript whose commands print what it shows (exit codes, stderr, shell state, placeholders)", async () => {
    const [session] = sessionsFrom(fixture("good.md"));
    const result = await runSession(session!, { root });
    expect(result.ok, result.report).toBe(true);
    expect(result.commandsRun).toBe(8);
    expect(existsSync(result.scratchDir)).toBe(false);
  });

  it("fails a deliberately broken transcript, naming the line, both outputs, and keeping the logs", async () => {
    const [session] = sessionsFrom(fixture("broken.md"));
    const result = await runSession(session!, { root });
    try {
      expect(result.ok).toBe(false);
      expect(result.report).toContain(
        'test/fixtures/transcripts/broken.md:4 (the ```console block at line 3 under "A transcript that has drifted from what the command prints", session main): the output differs from the transcript',
      );
      expect(result.report).toContain('expected line 1 "the answer is 41", got output line 1 "the answer is 42"');
      expect(result.report).toContain("rerun this session alone: pnpm test:docs -t 'test/fixtures/transcripts/broken.md session=main( |$)'");
      expect(existsSync(result.scratchDir)).toBe(true);
      expect(readFileSync(path.join(result.scratchDir, ".transcript", "command-1.out"), "utf8")).toBe("the answer is 42\n");
    } finally {
      rmSync(result.scratchDir, { recursive: true, force: true });
    }
  });

  it("waits for a background job's first lines, uses what it printed, and stops it with a Ctrl-C to its process group", async () => {
    const [session] = sessionsFrom(fixture("background.md"));
    const result = await runSession(session!, { root, keep: true });
    try {
      expect(result.ok, result.report).toBe(true);
      expect(readFileSync(path.join(result.scratchDir, "stopped-by-sigint"), "utf8")).toBe("graceful\n");
    } finally {
      rmSync(result.scratchDir, { recursive: true, force: true });
    }
  });

  it("counts a process group whose only member is a zombie as stopped (an orphan under an init that never reaps)", async () => {
    // perl forks a child into a group of its own that exits at once, and never reaps it: the group holds only a zombie.
    const parent = spawn("perl", ["-e", '$| = 1; my $p = fork; if ($p == 0) { setpgrp(0, 0); exit 0 } print "$p\\n"; sleep 60'], { stdio: ["ignore", "pipe", "inherit"] });
    try {
      const pid = await new Promise<number>((resolve) => parent.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
      const state = () => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[0];
      for (let i = 0; i < 100 && state() !== "Z"; i++) await new Promise((r) => setTimeout(r, 20));
      expect(state()).toBe("Z");
      expect(() => process.kill(-pid, 0)).not.toThrow();
      expect(groupAlive(pid)).toBe(false);
    } finally {
      parent.kill("SIGKILL");
    }
  });

  it("times out a command that hangs and fails the session within the bound", async () => {
    const md = ["<!-- transcript: timeout=2 -->", "```console", "$ sleep 60", "$ echo still here", "still here", "```"].join("\n");
    const [session] = sessionsOf(parseTranscripts(md, "hang.md").blocks);
    const result = await runSession(session!, { root });
    try {
      expect(result.ok).toBe(false);
      expect(result.report).toContain("[timed out]");
      expect(result.durationMs).toBeLessThan(30_000);
    } finally {
      rmSync(result.scratchDir, { recursive: true, force: true });
    }
  });
});
