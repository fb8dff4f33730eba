/**
 * The facade's edge checks: misuse throws a coded error (STYLE.md's first channel). The
 * common case (a short string key, a number ttl) is a couple of typeof tests.
 */
import { types } from "node:util";
import { describe, InvalidArgTypeError, InvalidArgValueError } from "../errors.ts";

/**
 * What a key may be: a string, or a number converted with String() (OpenResty's tostring).
 * @example
 * const key: Key = 42; // the same item as "42"
 */
export type Key = string | number;

/**
 * The values a zone stores: Uint8Array (Buffer included) is beyond OpenResty.
 * @example
 * ngx.shared["cache"]!.set("page", Buffer.from(html), 60);
 */
export type ShdictValue = string | number | boolean | Uint8Array;

const KEY_MAX_BYTES = 65535;
/** Up to this many UTF-16 units a string cannot exceed 65,535 UTF-8 bytes. */
const SURELY_SHORT = Math.floor(KEY_MAX_BYTES / 3);
const KEY_EXPECTED = "a non-empty string of at most 65535 UTF-8 bytes, or a number";
/**
 * Strings are stored as UTF-8, where a lone surrogate would become U+FFFD: two keys would be
 * one, and a value would not come back as stored. Such strings are refused.
 */
const NO_LONE_SURROGATE = "a string without lone surrogates (zones store UTF-8)";

export function checkKey(where: string, key: unknown): string {
  if (typeof key === "string" && key.length !== 0 && key.length <= SURELY_SHORT && key.isWellFormed())
    return key;
  return slowKey(where, key);
}

function slowKey(where: string, key: unknown): string {
  const text = typeof key === "number" ? String(key) : key;
  if (typeof text !== "string") throw new InvalidArgTypeError(where, "key", KEY_EXPECTED, key);
  if (text.length === 0 || Buffer.byteLength(text) > KEY_MAX_BYTES)
    throw new InvalidArgValueError(where, "key", KEY_EXPECTED, key);
  if (!text.isWellFormed()) throw new InvalidArgValueError(where, "key", NO_LONE_SURROGATE, key);
  return text;
}

function wellFormed(where: string, text: string): string {
  if (!text.isWellFormed()) throw new InvalidArgValueError(where, "value", NO_LONE_SURROGATE, text);
  return text;
}

/** undefined and null are OpenResty's nil: a store of nil deletes. */
export function checkValue(where: string, value: unknown): ShdictValue | undefined {
  switch (typeof value) {
    case "string":
      return wellFormed(where, value);
    case "number":
    case "boolean":
      return value;
    case "undefined":
      return undefined;
    default:
      if (value === null) return undefined;
      // Not `instanceof`: a Proxy of a Uint8Array, or an object given its prototype, passes
      // that test but has no bytes for the addon to copy.
      if (types.isUint8Array(value)) return withBytes(where, value);
      throw new InvalidArgTypeError(
        where,
        "value",
        "a string, number, boolean, Uint8Array, or undefined/null to delete",
        value,
      );
  }
}

/** Where the views' own getters are: a subclass, or the view itself, may define a `byteLength` that says anything. */
const TYPED_ARRAY_PROTOTYPE: object = Object.getPrototypeOf(Uint8Array.prototype) as object;

/**
 * A view whose buffer was detached (transferred: a transfer list of structuredClone or
 * postMessage, ArrayBuffer.prototype.transfer) or, resizable, shrunk below the view, reads as 0
 * bytes long: stored, it would be an empty value, the caller's bytes gone without a word. Only a
 * view of 0 bytes is looked at: copying one throws for exactly these (a source out of bounds).
 */
function withBytes(where: string, view: Uint8Array): Uint8Array {
  if (Reflect.get(TYPED_ARRAY_PROTOTYPE, "byteLength", view) !== 0 || copies(view)) return view;
  throw new InvalidArgTypeError(
    where,
    "value",
    "a Uint8Array whose buffer holds its bytes",
    view,
    `${describe(view)} whose buffer was detached (transferred) or shrunk below it`,
  );
}

function copies(view: Uint8Array): boolean {
  try {
    return new Uint8Array(view).length === 0;
  } catch {
    return false;
  }
}

export function checkListValue(where: string, value: unknown): string | number {
  if (typeof value === "string") return wellFormed(where, value);
  if (typeof value === "number") return value;
  throw new InvalidArgTypeError(where, "value", "a string or a number (a list holds only these)", value);
}

/**
 * The longest ttl, in seconds (about 31.7 years, the bound of timer delays too): an expiry is
 * kept as the monotonic clock in ms plus the ttl, which a larger ttl would overflow.
 */
export const MAX_TTL_SECONDS = 1e9;

/** What a ttl may be (ttlMs). */
export const SECONDS_EXPECTED = "a number of seconds, or a numeric string";

/**
 * Seconds with millisecond resolution → whole milliseconds, truncated as OpenResty does and as
 * timer delays are (toDelayMs: once rounded to the microsecond, so that 1.001 s is 1001 ms); 0 =
 * never expire. A positive ttl below 1 ms becomes 1 ms rather than OpenResty's "never". A numeric
 * string is read as Lua's tonumber reads it, by every method that takes a ttl, as lua-resty-core's
 * incr reads its init_ttl and its expire (by Lua's arithmetic) its exptime.
 */
export function ttlMs(where: string, name: string, seconds: unknown): number {
  if (seconds === undefined) return 0;
  const n =
    typeof seconds === "number" ? seconds : typeof seconds === "string" ? luaNumber(seconds) : undefined;
  if (n === undefined) throw new InvalidArgTypeError(where, name, SECONDS_EXPECTED, seconds);
  if (!(n >= 0 && n <= MAX_TTL_SECONDS))
    throw new InvalidArgValueError(where, name, `a number of seconds from 0 to ${MAX_TTL_SECONDS}`, seconds);
  const ms = Math.floor(Math.round(n * 1e6) / 1000);
  return ms === 0 && n > 0 ? 1 : ms;
}

export function checkFlags(where: string, flags: unknown): number {
  if (flags === undefined) return 0;
  if (typeof flags !== "number")
    throw new InvalidArgTypeError(where, "flags", "an integer from 0 to 2^32-1", flags);
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff)
    throw new InvalidArgValueError(where, "flags", "an integer from 0 to 2^32-1", flags);
  return flags;
}

/** A decimal or hexadecimal number as Lua's tonumber reads one ("2", " -1.5e3 ", "0x1F"). */
const NUMERIC = /^\s*([-+]?)(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|0[xX]([\da-fA-F]+))\s*$/;

/** `text` as Lua's tonumber reads it (without JavaScript's own forms: "0b11", "Infinity"), or undefined. */
function luaNumber(text: string): number | undefined {
  const parts = NUMERIC.exec(text);
  if (parts === null) return undefined;
  const [, sign = "", decimal, hex = ""] = parts;
  return decimal !== undefined ? Number(sign + decimal) : (sign === "-" ? -1 : 1) * parseInt(hex, 16);
}

/**
 * A finite number, or a string that reads as one (luaNumber), as `incr` takes them. NaN or an
 * infinity would make a counter that every later incr leaves as it is, in every process: refused.
 */
export function toNumber(where: string, name: string, value: unknown): number {
  const n = typeof value === "number" ? value : typeof value === "string" ? luaNumber(value) : undefined;
  if (n === undefined) throw new InvalidArgTypeError(where, name, "a number or a numeric string", value);
  if (!Number.isFinite(n)) throw new InvalidArgValueError(where, name, "a finite number", value);
  return n;
}

const COUNT_EXPECTED = "a safe integer >= 0 (0 = all)";

/**
 * A count limit: 0 means no limit. Any safe integer is taken; the addon counts in 32 bits, so a
 * larger limit becomes 2^32-1, which no zone can reach (a zone holds fewer items than that).
 */
export function checkCount(where: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw new InvalidArgTypeError(where, name, COUNT_EXPECTED, value);
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgValueError(where, name, COUNT_EXPECTED, value);
  return Math.min(value, 0xffffffff);
}
