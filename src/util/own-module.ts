/**
 * tsresty runs from two places: the compiled `dist/` (the package, and `./bin/tsresty` in a
 * clone) and its TypeScript source `src/` (this repository's tests, under tsx). Modules it loads
 * by URL (the roles it forks, single mode) are named by their source path; from `dist/` the
 * compiled `.js` beside it is meant. tsc rewrites import specifiers, not URLs, hence this.
 */

import { fileURLToPath } from "node:url";

/** True when tsresty runs from its TypeScript source, where a TypeScript loader is already active. */
export const FROM_SOURCE = import.meta.url.endsWith(".ts");

/** The module at `url` (a `.ts` path of src/) as this copy of tsresty runs it. */
export function ownModule(url: URL): URL {
  if (FROM_SOURCE) return url;
  const compiled = new URL(url);
  compiled.pathname = compiled.pathname.replace(/\.ts$/, ".js");
  return compiled;
}

/** tsresty's own code as a directory: src/, or dist/ in the compiled copy. */
const OWN_ROOT = fileURLToPath(new URL("..", import.meta.url));

/**
 * Whether a stack frame's place (a path or a file: URL, a line number may follow) is in tsresty's
 * own code: how error messages tell the user's frames from tsresty's.
 */
export function isOwnSource(place: string): boolean {
  return (place.startsWith("file://") ? fileURLToPath(place) : place).startsWith(OWN_ROOT);
}
