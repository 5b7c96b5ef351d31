// The fingerprint of a bundle: one hash over the path and content of every
// file the bundle was built from (the sources it includes, the package.json
// and tsconfig files that decide how they resolve and compile, the installed
// dependency lock, and this launcher). A start first compares each file's
// size, times and inode with those recorded beside the fingerprint (a write
// always changes the change time, which no tool can set back); only when one
// differs does it hash the contents again. Either way an edited file means a
// rebuild, never a stale run.
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";

/** A file's identity on disk: size, modification and change times in ns, inode. Throws when it is missing. */
export function statKey(file) {
  const s = statSync(file, { bigint: true });
  return `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}`;
}

/**
 * Reads `file` after taking its statKey, so a write in between leaves a key
 * that no longer matches (the next start hashes again) rather than a key
 * that vouches for content it never saw.
 */
export function snapshot(file) {
  const key = statKey(file);
  return { key, content: readFileSync(file) };
}

/**
 * Hashes `files` (absolute paths) with their contents from `read`; returns
 * undefined when a file cannot be read, which callers treat as "rebuild".
 */
export function fingerprint(files, read = (file) => readFileSync(file)) {
  const all = createHash("sha256");
  for (const file of [...files].sort()) {
    let content;
    try {
      content = read(file);
    } catch {
      return undefined;
    }
    all.update(file).update("\0").update(createHash("sha256").update(content).digest()).update("\n");
  }
  return all.digest("hex");
}
