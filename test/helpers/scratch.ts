import { chmodSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after } from "node:test";

/**
 * A fresh directory under the system's tmp, removed after the test file. Readable by everyone,
 * so that workers that dropped to `nobody` can load an app from it.
 */
export function scratchDir(label = "scratch"): string {
  const dir = mkdtempSync(join(tmpdir(), `tsresty-${label}-`));
  chmodSync(dir, 0o755);

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Writes `files` (relative path → text) under `dir`; returns `dir`. */
export function writeFiles(dir: string, files: Readonly<Record<string, string>>): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** A scratch directory holding `files`: apps written inline by a test, using the global `ngx`. */
export function scratchApp(files: Readonly<Record<string, string>>): string {
  return writeFiles(scratchDir("app"), files);
}
