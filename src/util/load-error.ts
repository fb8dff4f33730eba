/**
 * How failures of the user's code read in start and reload messages: the error, then the stack
 * frames of the user's own code only (not tsresty's, not Node's internals, not the TypeScript
 * loader's), so the first line points where the user has to look. A module that cannot be loaded
 * reads `app failed to load: FILE:LINE: message`.
 */
import { fileURLToPath } from "node:url";
import { formatThrown } from "./log.ts";
import { isOwnSource } from "./own-module.ts";

/** The place of a stack frame that is a file: `at fn (/a/b.ts:1:2)` or `at /a/b.ts:1:2`. */
const FRAME_PLACE = /(?:\(|at )((?:file:\/\/)?\/[^\s()]+?):(\d+):\d+\)?$/;
/** esbuild's transform errors: "FILE:LINE:COL: ERROR: message". */
const TRANSFORM_ERROR = /^(\/[^\n:]+):(\d+):\d+: ERROR: (.+)$/m;

/** A frame's place as a path (an ES module's frames name it by its file URL). */
function pathOf(place: string): string {
  return place.startsWith("file://") ? fileURLToPath(place) : place;
}

function isUserFrame(line: string): boolean {
  const place = FRAME_PLACE.exec(line.trim())?.[1];
  return place !== undefined && !isOwnSource(place) && !place.includes("/node_modules/");
}

/** The user's own frames of an error's stack, indented as a stack prints them. */
function userFrames(error: unknown): string[] {
  const stack = error instanceof Error && typeof error.stack === "string" ? error.stack : "";
  return stack
    .split("\n")
    .filter((line) => line.trimStart().startsWith("at ") && isUserFrame(line))
    .map((line) => `    ${line.trim()}`);
}

function isOwnError(error: unknown): error is Error {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === "string" && code.startsWith("ERR_TSRESTY_");
}

function headline(error: unknown): string {
  if (!(error instanceof Error)) return formatThrown(error);
  return error.name === "Error" ? error.message : `${error.name}: ${error.message}`;
}

/**
 * `describe()`, or formatThrown's text when looking at the value throws: user code can throw a
 * revoked Proxy, or an error whose getters throw, and the message about it must not throw again
 * (it ended the init process with Node's own report of the second error).
 */
function safely(describe: () => string, error: unknown, prefix = ""): string {
  try {
    return describe();
  } catch {
    return `${prefix}${formatThrown(error)}`;
  }
}

/** An error from user code (init, say): `Name: message` and the user's frames. */
export function describeUserError(error: unknown): string {
  return safely(() => {
    const kind = error instanceof Error && error.name === "Error" ? "Error: " : "";
    return [`${kind}${headline(error)}`, ...userFrames(error)].join("\n");
  }, error);
}

/**
 * A value that user code threw or rejected and nothing caught: single mode's main chunk and its
 * uncaught errors, a config's code (single mode and the init process), a rejection left unhandled
 * in the init process, a worker or the agent. As {@link describeUserError} when the user's code is
 * on its stack; the whole stack when none of it is (a fault of tsresty's own stays traceable).
 */
export function describeUncaught(error: unknown): string {
  return safely(
    () =>
      syntaxError(error) ?? (userFrames(error).length > 0 ? describeUserError(error) : formatThrown(error)),
    error,
  );
}

/**
 * `FILE:LINE: message` for the TypeScript loader's (esbuild's) refusal of a file, whose stack is
 * all esbuild's own frames; null for any other error.
 */
function syntaxError(error: unknown): string | null {
  const message = error instanceof Error ? error.message : "";
  const transform = TRANSFORM_ERROR.exec(message);
  return transform === null ? null : `${transform[1]}:${transform[2]}: ${transform[3]}`;
}

/**
 * One line (plus the user's frames) for an app module that could not be loaded. tsresty's own
 * errors about the module (a bad default export) already name the file: they read as they are;
 * one that the module's own code caused (an API called at its top level) gets the module's place.
 */
export function describeLoadError(what: string, error: unknown): string {
  return safely(() => loadErrorText(what, error), error, `${what} failed to load: `);
}

function loadErrorText(what: string, error: unknown): string {
  if (isOwnError(error) && userFrames(error).length === 0) return error.message;
  return `${what} failed to load: ${loadFailure(error)}`;
}

/**
 * Why a module of the user's failed to load: `FILE:LINE: message` at the first frame of the
 * user's code (the file and line of a `throw` at its top level, or in a module it imports), then
 * those frames; the message alone when no frame is the user's (a missing module).
 */
export function loadFailure(error: unknown): string {
  return safely(() => {
    const syntax = syntaxError(error);
    if (syntax !== null) return syntax;
    const frames = userFrames(error);
    const first = frames[0] === undefined ? null : FRAME_PLACE.exec(frames[0].trim());
    const where = first === null ? "" : `${pathOf(first[1] ?? "")}:${first[2] ?? ""}: `;
    return [`${where}${headline(error)}`, ...frames].join("\n");
  }, error);
}
