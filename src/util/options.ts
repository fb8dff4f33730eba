/**
 * An options argument, checked once: a plain object (a literal, or made with
 * `Object.create(null)`) whose own keys are all known. A Map, a Date, an array or a class's
 * instance passed a "typeof object" check with every option left at its default (a Map of bad
 * values was taken as no options at all), and an option inherited from a prototype was read
 * although only own keys were checked. What it returns holds the own values only, without a
 * prototype, so that nothing inherited is ever read.
 */
import { InvalidArgTypeError, UnknownOptionError } from "../errors.ts";

/** An object literal's kind: its prototype is Object.prototype, or it has none (a revoked Proxy is not). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  try {
    const prototype: unknown = Object.getPrototypeOf(value);
    return prototype === Object.prototype || prototype === null;
  } catch {
    return false; // a revoked Proxy, a trap that throws
  }
}

export function ownOptions(
  where: string,
  value: unknown,
  known: readonly string[],
  argument = "options",
): Readonly<Record<string, unknown>> {
  if (!isPlainObject(value)) throw new InvalidArgTypeError(where, argument, "a plain object", value);
  const options = value;
  const own: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new UnknownOptionError(where, key, known);
    own[key] = options[key];
  }
  return own;
}
