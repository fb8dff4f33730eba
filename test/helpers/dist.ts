import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/**
 * Builds dist/ when it is missing or older than src/ (`npm ci` builds it; an edit since then
 * would otherwise be tested against the last build).
 */
export function ensureBuilt(): void {
  const built = join(ROOT, "dist", "index.js");
  const sources = Math.max(newest(join(ROOT, "src")), newest(join(ROOT, "tsconfig.build.json")));
  if (existsSync(built) && statSync(built).mtimeMs >= sources) return;
  execFileSync(process.execPath, [join(ROOT, "scripts", "build.mjs")], {
    stdio: "inherit",
    timeout: 180_000,
  });
}
