/**
 * tsresty runs from two places: the compiled `dist/` (the package, and `./bin/tsresty` in a
 * clone) and its TypeScript source `src/` (this repository's tests, under tsx). Modules it loads
 * by URL (the roles it forks, single mode) are named by their source path; from `dist/` the
 * compiled `.js` beside it is meant. tsc rewrites import specifiers, not URLs, hence this.
 */

/** True when tsresty runs from its TypeScript source, where a TypeScript loader is already active. */
export const FROM_SOURCE = import.meta.url.endsWith(".ts");

/** The module at `url` (a `.ts` path of src/) as this copy of tsresty runs it. */
export function ownModule(url: URL): URL {
  if (FROM_SOURCE) return url;
  const compiled = new URL(url);
  compiled.pathname = compiled.pathname.replace(/\.ts$/, ".js");
  return compiled;
}
