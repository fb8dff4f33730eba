/**
 * Where a JavaScript module's syntax error is, for the message that says a file failed to load.
 * V8's SyntaxError for an ES module that Node's loader compiles carries Node's frames only (Node
 * 20 and 24: Node keeps the place for its own report of an uncaught error), so "app failed to
 * load: SyntaxError: Unexpected identifier" named neither file nor line. A CommonJS module's has
 * the place as its stack's first line; for an ES module it is asked of `node --check`, on the
 * failure path only, of the file and of the modules it imports. TypeScript files need none of
 * this: esbuild's refusal names the place.
 */
const JAVASCRIPT = /\.[cm]?js$/;
/**
 * The first line of Node's report of a syntax error: `FILE:LINE` (a CommonJS module's), or
 * `file:///FILE:LINE` (an ES module's link error: an import of a name the module does not export).
 */
const REPORTED_PLACE = /^((?:file:\/\/)?\/[^\n]*):(\d+)$/;
/** A stack frame in a file (not one of Node's internals): `at f (/a.js:1:2)`, `at file:///a.mjs:1:2`. */
const FILE_FRAME = /(?:\(|at )(?:file:\/\/)?\/[^\s()]+:\d+:\d+\)?$/m;
/** What finding the place may take, on the failure path: at most so many `node --check`s, within so long. */
const CHECK_MS = 5_000;
const MAX_CHECKED = 50;
const RELATIVE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.{1,2}\/[^"'\n]+)\1/g;
/** Node's link errors are SyntaxErrors with no syntax to look for: Node's report has their place. */
const LINK_ERROR = /^The requested module /;

interface Place {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** The errors this module placed, and their places (`FILE:LINE`). */
const placed = new WeakMap<Error, string>();

/** The place in Node's report (`FILE:LINE`, the source line, a caret under the column). */
function reportedPlace(report: string): Place | null {
  const [first = "", , carets = ""] = report.split("\n");
  const place = REPORTED_PLACE.exec(first);
  if (place === null) return null;
  const file = place[1] ?? "";
  return {
    file: file.startsWith("file://") ? process.getBuiltinModule("node:url").fileURLToPath(file) : file,
    line: Number(place[2]),
    column: Math.max(1, carets.indexOf("^") + 1),
  };
}

/** Where `node --check` finds `file`'s syntax error; null when it finds none (or says nothing within `ms`). */
function checkedPlace(file: string, ms: number): Place | null {
  const { spawnSync } = process.getBuiltinModule("node:child_process");
  const checked = spawnSync(process.execPath, ["--check", file], {
    encoding: "utf8",
    timeout: ms,
    stdio: ["ignore", "ignore", "pipe"],
  });
  return checked.status === 0 ? null : reportedPlace(checked.stderr);
}

/** The relative modules a JavaScript source names in `import … from`, `import "…"`, `export … from` and `import("…")`. */
function relativeImports(file: string): string[] {
  const { readFileSync } = process.getBuiltinModule("node:fs");
  const path = process.getBuiltinModule("node:path");
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return Array.from(source.matchAll(RELATIVE_IMPORT), (found) =>
    path.resolve(path.dirname(file), found[2] ?? ""),
  );
}

/**
 * The syntax error in `file` or in a JavaScript module it imports by a relative path (and so on),
 * as `node --check` finds it: up to {@link MAX_CHECKED} files, within {@link CHECK_MS} in all.
 * Which modules are imported is read from the sources' text, not parsed: one it misses leaves the
 * error without a place, as before; one it wrongly finds only costs a check.
 */
function searchedPlace(file: string): Place | null {
  const deadline = Date.now() + CHECK_MS;
  const queued = [file];
  const seen = new Set(queued);
  for (let i = 0; i < queued.length && i < MAX_CHECKED; i++) {
    const next = queued[i] ?? "";
    const left = deadline - Date.now();
    if (left <= 0) return null;
    const place = checkedPlace(next, left);
    if (place !== null) return place;
    for (const imported of relativeImports(next)) {
      if (seen.has(imported) || !JAVASCRIPT.test(imported)) continue;
      seen.add(imported);
      queued.push(imported);
    }
  }
  return null;
}

/**
 * `error`, thrown by importing the user's `file`, with its place when it is a syntax error that
 * has none: a new SyntaxError with the same message, `error` as its cause, and a stack whose one
 * frame is the place (which the messages about a module that failed to load show). Any other
 * error, or one whose place cannot be found, is returned as it is.
 */
export function withSyntaxPlace(error: unknown, file: string): unknown {
  if (!(error instanceof SyntaxError) || !JAVASCRIPT.test(file)) return error;
  const stack = typeof error.stack === "string" ? error.stack : "";
  // A frame in a file: thrown by code that ran (JSON.parse at a module's top level), which has a place.
  const searchable = !FILE_FRAME.test(stack) && !LINK_ERROR.test(error.message);
  const place = reportedPlace(stack) ?? (searchable ? searchedPlace(file) : null);
  if (place === null) return error;
  const found = new SyntaxError(error.message, { cause: error });
  found.stack = `SyntaxError: ${error.message}\n    at ${place.file}:${place.line}:${place.column}`;
  placed.set(found, `${place.file}:${place.line}`);
  return found;
}

/** `FILE:LINE` of an error {@link withSyntaxPlace} placed; null for any other. */
export function syntaxPlaceOf(error: unknown): string | null {
  return error instanceof Error ? (placed.get(error) ?? null) : null;
}
