/**
 * Log lines in nginx's shape, so that tools and eyes trained on nginx's error log read ours:
 * `2026/11/22 10:00:00 [error] 1234#0: message`. The number after `#` is the worker id
 * (`-` in processes that have none).
 */

import { inspect } from "node:util";

export const LOG_LEVELS = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogSink = (level: LogLevel, message: string) => void;

export interface LineLogOptions {
  /** Where finished lines go (one call per line, newline included). */
  readonly write: (line: string) => void;
  readonly pid: number;
  /** The worker id, or null for processes that have none. */
  readonly workerId: () => number | null;
  /** Lines below this level are dropped (a function: the level may change, as on a reload). */
  readonly minLevel?: LogLevel | (() => LogLevel);
}

const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));

/** Formats a local time the way nginx does: `2026/11/22 10:00:00`. */
function formatLogTime(date: Date): string {
  return (
    `${date.getFullYear()}/${pad(date.getMonth() + 1)}/${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/**
 * A message's second and later lines, indented (a tab where one does not start with a space or
 * a tab already, as a stack's lines do): they read as part of their entry, and never as an
 * entry of their own.
 */
function indented(message: string): string {
  return message.includes("\n") ? message.replace(/\n(?![ \t])/g, "\n\t") : message;
}

/** Builds a sink that writes nginx-shaped lines. */
export function lineLogger(options: LineLogOptions): LogSink {
  const { minLevel = "info" } = options;
  const floor = (): number => LOG_LEVELS.indexOf(typeof minLevel === "function" ? minLevel() : minLevel);
  return (level, message) => {
    if (LOG_LEVELS.indexOf(level) < floor()) return;

    const id = options.workerId();
    const text = indented(escapeControls(message));
    options.write(`${formatLogTime(new Date())} [${level}] ${options.pid}#${id ?? "-"}: ${text}\n`);
  };
}

/**
 * Renders a thrown value for a log line: the stack when there is one. Never throws, since it
 * runs on failure paths: a value may have no prototype, or getters and a `toString` that throw
 * (each step falls back to a plainer rendering).
 */
export function formatThrown(value: unknown): string {
  const attempt = <T>(render: () => T): T | undefined => {
    try {
      return render();
    } catch {
      return undefined;
    }
  };
  if (typeof value === "string") return `non-error value thrown: ${value}`;
  if (attempt(() => value instanceof Error) === true) {
    const error = value as { readonly stack?: unknown; readonly name?: unknown; readonly message?: unknown };
    const stack = attempt(() => error.stack);
    if (typeof stack === "string") return stack;
    // An error still, when its stack cannot be made (a message getter that throws makes it throw).
    const name = attempt(() => String(error.name)) ?? "Error";
    const message = attempt(() => String(error.message));
    return message === undefined ? `${name} (its message cannot be read)` : `${name}: ${message}`;
  }
  // inspect, not String: 10n as 10n, a function as its name rather than its source.
  const text = attempt(() => inspect(value, { breakLength: Infinity, depth: 2 }));
  return `non-error value thrown: ${text ?? "(unprintable value thrown)"}`;
}

/**
 * Text (a timer's name): `"`, `\\`, control characters (C0, DEL, C1), and the line separators and
 * bidirectional controls of Unicode (U+2028, U+2029, U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
 * U+061C: a viewer could end a line at one, or show a line's text in another order), as `\\uHHHH`.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_TEXT = /["\\\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** Bytes in a latin1 string (a request line, a header value): every byte from 0x7f too, as nginx. */
// eslint-disable-next-line no-control-regex
const UNSAFE_BYTES = /["\\\x00-\x1f\x7f-\xff]/g;
/**
 * UNSAFE_TEXT but for `"`, `\\`, the tab and the newline: what no message of a log line (an error's
 * text, a stack) keeps as is. A CR or an escape sequence reached a terminal that shows the log.
 */
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** A character as `\\uHHHH`: beyond U+00FF in a log line, and every one in JSON. */
const unicode = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
const hex = (c: string): string => {
  const code = c.charCodeAt(0);
  return code > 0xff ? unicode(c) : `\\x${code.toString(16).padStart(2, "0")}`;
};

/**
 * `text` with its control characters (all but tab and newline) and Unicode's line separators and
 * bidirectional controls escaped: what no log line keeps as is, and what the CLI prints of a
 * master's answer (a process posing as the master must not reach the operator's terminal).
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, hex);
}

/**
 * JSON text with what escapeControls escapes as JSON escapes (`\u0085`): JSON.stringify escapes
 * the C0 controls but leaves DEL, C1 and Unicode's separators as they are. The same value.
 */
export function escapeControlsInJson(json: string): string {
  return json.replace(CONTROLS, unicode);
}

/**
 * User text put into a log line or a table cell, escaped as nginx escapes variables in its logs
 * (`\\xHH`; `\\uHHHH` beyond U+00FF): it can neither end its line nor start a forged one, nor
 * reach a terminal as an escape sequence, nor be shown in another order. `bytes`: the string holds
 * bytes (Node reads request lines and headers as latin1), so bytes from 0x7f are escaped as well,
 * rather than written again as UTF-8.
 */
export function escapeForLog(text: string, bytes = false): string {
  return text.replace(bytes ? UNSAFE_BYTES : UNSAFE_TEXT, hex);
}

/** A line already in the shape `lineLogger` writes (a tsresty process's own log line). */
const LOG_LINE = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[[a-z]+\] (\d+)#[\d-]+: /;

/** The pid a line in `lineLogger`'s shape says wrote it; null for any other line. */
export function logLinePid(text: string): number | null {
  const match = LOG_LINE.exec(text);
  return match === null ? null : Number(match[1]);
}

/**
 * A line a process printed (its stdout, or stderr that is not a log line), attributed the way
 * log lines are: `2026/11/22 10:00:00 1234#0: text` (output) or with a level (stderr).
 */
export function attributeLine(pid: number, workerId: number | null, text: string, level?: LogLevel): string {
  const tag = level === undefined ? "" : `[${level}] `;
  return `${formatLogTime(new Date())} ${tag}${pid}#${workerId ?? "-"}: ${text}`;
}
