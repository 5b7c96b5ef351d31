import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { docFiles } from "./transcript/files.ts";
import { parseTranscripts, sessionsOf } from "./transcript/parse.ts";
import { runSession, sessionTestName } from "./transcript/run.ts";

// Executable documentation: every README's and doc's ```console blocks run
// against real processes and must print what they show (test/transcript/,
// syntax in docs/transcripts.md). `pnpm test` runs the fast sessions;
// `pnpm test:docs` runs them all (HECK_DOCS=all); `pnpm test:docs -t swim`
// runs one file's, and a failure prints the command that reruns its
// session alone. Sessions run one after another: several use the same
// fixed ports a reader would.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const runAll = process.env.HECK_DOCS === "all";
const files = docFiles(root);
const parsed = files.map((file) => ({ file, ...parseTranscripts(readFileSync(path.join(root, file), "utf8"), file) }));

describe("transcript blocks", () => {
  it("every shell block in the docs is a transcript or marked illustrative, with valid options", () => {
    const problems = parsed.flatMap((p) => p.problems.map((q) => `${q.file}:${q.line}: ${q.message}`));
    expect(problems).toEqual([]);
  });
});

describe.sequential("transcripts", () => {
  for (const { blocks } of parsed) {
    for (const session of sessionsOf(blocks)) {
      const name = sessionTestName(session);
      const run = session.slow && !runAll ? it.skip : it;
      run(name, async () => {
        const result = await runSession(session, { root });
        // The report names the command, its block and heading, both outputs, the logs, and how to rerun this session alone.
        if (!result.ok) expect.fail(result.report);
      }, session.slow ? 15 * 60_000 : 5 * 60_000);
    }
  }
});
