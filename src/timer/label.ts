import { escapeForLog } from "../util/log.ts";
import { isOwnSource } from "../util/own-module.ts";
import type { TimerEntry } from "./entry.ts";

/** A timer's name as log lines quote it: escaped, so that it cannot break or forge a line. */
export function quotedName(name: string): string {
  return `"${escapeForLog(name)}"`;
}

/**
 * How log lines name a timer: its `name` when it has one, otherwise its callback's function
 * name and a source location (where it failed, or where it was created when known).
 */
export function timerLabel(entry: TimerEntry, location: string | undefined): string {
  if (entry.name !== undefined) return `timer ${quotedName(entry.name)}`;
  const name = callbackName(entry.callback);
  const fn = name === "" ? "anonymous function" : `function ${name}`;
  return location === undefined ? `timer with ${fn}` : `timer with ${fn} at ${location}`;
}

/** The callback's `name`, read without letting a Proxy's trap throw (this runs on failure paths). */
function callbackName(callback: TimerEntry["callback"]): string {
  try {
    const name: unknown = callback.name;
    return typeof name === "string" ? name : "";
  } catch {
    return "";
  }
}

const FRAME = /\(?((?:file|node|data):[^\s)]+|\/[^\s)]+):(\d+):(\d+)\)?$/;

function frameLocation(line: string): string | undefined {
  const match = FRAME.exec(line.trim());
  return match === null ? undefined : `${match[1] ?? ""}:${match[2] ?? ""}`;
}

/**
 * The location of the callback's own frame in an error's stack: the frame just above the
 * core's invoker (marked by `invokerName`), or, for an error raised after an `await`, the
 * first frame of the stack. Undefined when there is no readable stack (user code may make
 * `instanceof` or the `stack` getter throw), and when the frame found is tsresty's own (the call
 * itself threw: a class called without `new`).
 */
export function callbackLocation(error: unknown, invokerName: string): string | undefined {
  let stack: unknown;
  try {
    stack = error instanceof Error ? error.stack : undefined;
  } catch {
    return undefined;
  }
  if (typeof stack !== "string") return undefined;
  const frames = stack.split("\n").filter((line) => line.trimStart().startsWith("at "));
  const invoker = frames.findIndex((line) => line.includes(invokerName));
  // Frames of Node and of tsresty (AsyncLocalStorage.run and callInStore, for async callbacks)
  // may sit between the two.
  // The invoker on top: the call itself threw (a class called without `new`), no frame is the callback's.
  if (invoker === 0) return undefined;
  let above = invoker - 1;
  while (above > 0 && isOwnOrNode(frameLocation(frames[above] ?? ""))) above--;
  const frame = invoker > 0 ? frames[above] : frames[0];
  const location = frame === undefined ? undefined : frameLocation(frame);
  // No location rather than one in tsresty's own code, which would send the reader to the wrong file.
  return location !== undefined && isOwnSource(location) ? undefined : location;
}

/** Whether a frame's location is in Node or in tsresty's own code. */
function isOwnOrNode(location: string | undefined): boolean {
  return location !== undefined && (location.startsWith("node:") || isOwnSource(location));
}

/**
 * Where user code called into tsresty (the first frame outside tsresty's own source): `file:line`.
 * Undefined when the stack is not text: an app's `Error.prepareStackTrace` may make it V8's
 * structured frames, anything else, or throw (each made creating a timer throw).
 */
export function creationSite(): string | undefined {
  const holder: { stack?: unknown } = {};
  const limit = Error.stackTraceLimit;
  const raised = setStackTraceLimit(12);
  let stack: unknown;
  try {
    Error.captureStackTrace(holder, creationSite);
    stack = holder.stack;
  } catch {
    return undefined;
  } finally {
    if (raised) setStackTraceLimit(limit);
  }
  if (typeof stack !== "string") return undefined;
  for (const line of stack.split("\n").slice(1)) {
    const location = frameLocation(line);
    if (location !== undefined && !isOwnOrNode(location)) return location;
  }
  return undefined;
}

/**
 * Sets `Error.stackTraceLimit`; false when the app made it read-only (`node --frozen-intrinsics`,
 * a frozen `Error`), where assigning to it threw, and made every timer creation under the "drop"
 * policy throw. The app's limit is used then.
 */
function setStackTraceLimit(limit: number): boolean {
  try {
    Error.stackTraceLimit = limit;
    return true;
  } catch {
    return false;
  }
}
