/**
 * Runs every transcript in `testdata/*.txt` (see support/transcript.ts for
 * the format and the commands): each command's output must equal the text
 * under its `----` line. To try a variation, edit a file and run
 *
 *     HECK_REWRITE=1 pnpm vitest run --project raft-kv test/raft/transcripts.test.ts
 *
 * which writes the outputs the code produces back into the files; `git diff`
 * then shows what the change did to the story.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { TranscriptEnv, formatTranscript, parseTranscript } from "./support/transcript.ts";

const DIR = path.join(import.meta.dirname, "..", "..", "testdata");
const REWRITE = process.env.HECK_REWRITE === "1";
const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".txt")).sort();

describe("Raft transcripts (testdata/*.txt)", () => {
  it("has stories to tell", () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)("%s", (file) => {
    const full = path.join(DIR, file);
    const { blocks, trailer } = parseTranscript(fs.readFileSync(full, "utf8"));
    const env = new TranscriptEnv();
    const outputs: string[] = [];
    for (const b of blocks) {
      let actual: string;
      try {
        actual = env.run(b.command);
      } catch (error) {
        throw new Error(`${file}:${b.line}: ${b.command}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      outputs.push(actual);
      if (!REWRITE) expect(actual, `${file}:${b.line}: ${b.command}`).toBe(b.expected);
    }
    if (REWRITE) fs.writeFileSync(full, formatTranscript(blocks, outputs, trailer));
  });
});
