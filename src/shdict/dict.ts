import { InvalidArgTypeError, InvalidArgValueError, ShdictError } from "../errors.ts";
import {
  isNativeZone,
  OP_ADD,
  OP_IF_NUMBER,
  OP_REPLACE,
  OP_SAFE,
  OP_SET,
  scratch,
  type NativeZone,
} from "./native.ts";
import { forcibleOf, OK, reasonOf, storeResult, type StoreResult } from "./outcomes.ts";
import {
  checkCount,
  checkFlags,
  checkKey,
  checkListValue,
  checkValue,
  SECONDS_EXPECTED,
  toNumber,
  ttlMs,
  type Key,
  type ShdictValue,
} from "./validate.ts";

/**
 * `getWithFlags`: the value (undefined when missing or expired) and its flags.
 * @example
 * const { value, flags } = ngx.shared["dogs"]!.getWithFlags("Jim");
 */
export interface GetResult {
  readonly value: ShdictValue | undefined;
  readonly flags: number;
  /** Present when the key holds a list (`get` returns undefined for it). */
  readonly reason?: "value is a list";
}

/**
 * `getStale`: also an expired value not yet freed, with `stale: true`.
 * @example
 * const { value, stale } = ngx.shared["cache"]!.getStale("page"); // serve stale while refreshing
 */
export interface StaleResult extends GetResult {
  readonly stale: boolean;
}

/**
 * `incr`: the new value, or OpenResty's reason (`not found` without `init`, `not a number`, `no memory`).
 * @example
 * const hits = ngx.shared["stats"]!.incr("hits", 1, 0);
 * if (hits.ok) ngx.log(ngx.INFO, "hits: ", hits.value);
 */
export type IncrResult =
  | { readonly ok: true; readonly value: number; readonly forcible: boolean }
  | {
      readonly ok: false;
      readonly reason: "not found" | "not a number" | "no memory";
      readonly forcible: boolean;
    };

/**
 * `lpush` / `rpush`: the list's new length, or why not.
 * @example
 * const pushed = ngx.shared["queue"]!.rpush("jobs", "job-1"); // { ok: true, length: 1 }
 */
export type PushResult =
  | { readonly ok: true; readonly length: number }
  | { readonly ok: false; readonly reason: "value not a list" | "no memory" };

/**
 * `lpop` / `rpop`: the value taken (undefined from an empty or missing list), or why not.
 * @example
 * const job = ngx.shared["queue"]!.lpop("jobs"); // { ok: true, value: "job-1" } (value undefined when empty)
 */
export type PopResult =
  | { readonly ok: true; readonly value: string | number | undefined }
  | { readonly ok: false; readonly reason: "value not a list" };

/**
 * `llen`: the list's length (0 for a missing key), or why not.
 * @example
 * const { length } = ngx.shared["queue"]!.llen("jobs") as { ok: true; length: number };
 */
export type LengthResult =
  | { readonly ok: true; readonly length: number }
  | { readonly ok: false; readonly reason: "value not a list" };

/**
 * `ttl`: seconds left before the key expires (0 = never), or `not found`.
 * @example
 * const left = ngx.shared["sessions"]!.ttl("s:42"); // { ok: true, ttl: 29.5 } (0: never expires)
 */
export type TtlResult =
  { readonly ok: true; readonly ttl: number } | { readonly ok: false; readonly reason: "not found" };

/**
 * `expire`: done, or `not found`.
 * @example
 * ngx.shared["sessions"]!.expire("s:42", 60); // { ok: true }
 */
export type ExpireResult = { readonly ok: true } | { readonly ok: false; readonly reason: "not found" };

/**
 * ngx.lock's conditional store, on every SharedDict under a registered symbol (not the public
 * surface): so that a Lock of one copy of this module works on a SharedDict made by another (an
 * app bundle that inlined tsresty, beside the runtime's copy that installed the zones), as the
 * public methods do.
 */
const STORE_IF_HOLDS = Symbol.for("tsresty.shdict.storeIfHolds");
type StoreIfHolds = (
  where: string,
  key: string,
  token: number,
  ttlMs: number | undefined,
  value?: number,
) => StoreResult;

const NOT_A_LIST = Object.freeze({ ok: false, reason: "value not a list" } as const);
const NOT_FOUND = Object.freeze({ ok: false, reason: "not found" } as const);
const EXPIRED_OK = Object.freeze({ ok: true } as const);
const EMPTY_POP = Object.freeze({ ok: true, value: undefined } as const);
const IS_LIST = 5;

/**
 * `ngx.shared.NAME`: a dictionary in memory shared by every process of the host, with
 * OpenResty's shdict methods in camelCase. Every call is atomic. Misuse (a bad key, value,
 * ttl or flags) throws; outcomes (`exists`, `not found`, `no memory`, …) are returned.
 * @example
 * const dogs = ngx.shared["dogs"]!;
 * dogs.set("Jim", 8);
 * dogs.get("Jim"); // 8
 * const { ok, forcible } = dogs.add("Jim", 9); // ok === false, reason "exists"
 */
export class SharedDict {
  static {
    const storeIfHolds: StoreIfHolds = function (this: unknown, where, key, token, ttlMs, value) {
      const zone = SharedDict.#zoneOf(this, where);
      // Checked as every public method's key: reachable by its symbol, and a lone surrogate
      // given to the addon as it is would be U+FFFD there, another key.
      const k = checkKey(where, key);
      if (value !== undefined)
        return storeResult(
          where,
          zone.store(k, value, ttlMs ?? 0, 0, OP_REPLACE | OP_SAFE | OP_IF_NUMBER, token),
        );
      const kept = ttlMs === undefined ? undefined : token;
      return storeResult(where, zone.store(k, kept, ttlMs ?? 0, 0, OP_REPLACE | OP_IF_NUMBER, token));
    };
    Object.defineProperty(SharedDict.prototype, STORE_IF_HOLDS, { value: storeIfHolds });
  }

  readonly #zone: NativeZone;
  /** The zone's name, as declared (`ngx.shared.NAME`). */
  readonly name: string;
  readonly #capacity: number;

  /** Made by createZone and attachZone; reachable as `dogs.constructor`, so `zone` is checked. */
  constructor(name: string, capacity: number, zone: NativeZone) {
    if (!isNativeZone(zone)) {
      throw new InvalidArgTypeError(
        "SharedDict",
        "zone",
        "a zone of the addon (zones are made by tsresty from the config: use ngx.shared.NAME)",
        zone,
      );
    }
    this.name = name;
    this.#capacity = capacity;
    this.#zone = zone;
    // Seen by every caller in the process: `dogs.name = "cats"` or `dogs.get = …` throws.
    Object.freeze(this);
  }

  /**
   * The zone of `dict`. A method called without its dictionary (`const { get } = dogs`) gets a
   * clear error, as OpenResty's `dogs.get(k)` gets `bad "zone" argument`.
   */
  static #zoneOf(dict: unknown, where: string): NativeZone {
    if (typeof dict === "object" && dict !== null && #zone in dict) return dict.#zone;
    throw new InvalidArgTypeError(
      where,
      "this",
      `a shared dictionary: call it on one (ngx.shared.NAME.${where}(…)), not detached from it`,
      dict,
    );
  }

  /** The value, or undefined when the key is missing, expired or holds a list. */
  get(key: Key): ShdictValue | undefined {
    return SharedDict.#zoneOf(this, "get").get(checkKey("get", key)) as ShdictValue | undefined;
  }

  /** The value and its user flags; `reason: "value is a list"` for a list. */
  getWithFlags(key: Key): GetResult {
    const value = SharedDict.#zoneOf(this, "getWithFlags").get(checkKey("getWithFlags", key)) as
      ShdictValue | undefined;
    if (scratch[0] === IS_LIST << 1) return { value: undefined, flags: 0, reason: "value is a list" };
    return { value, flags: scratch[1] ?? 0 };
  }

  /** As getWithFlags, and an expired value not yet freed comes back with `stale: true`. */
  getStale(key: Key): StaleResult {
    const value = SharedDict.#zoneOf(this, "getStale").getStale(checkKey("getStale", key)) as
      ShdictValue | undefined;
    if (scratch[0] === IS_LIST << 1)
      return { value: undefined, flags: 0, stale: false, reason: "value is a list" };
    return { value, flags: scratch[1] ?? 0, stale: scratch[2] === 1 };
  }

  /**
   * Stores a value (undefined/null deletes), evicting least recently used items when the
   * zone is full (`forcible: true`). `ttl` in seconds (ms resolution, 0 = never; a numeric
   * string as Lua's tonumber reads it, in every method that takes a ttl).
   */
  set(key: Key, value: ShdictValue | null | undefined, ttl?: number | string, flags?: number): StoreResult {
    return SharedDict.#store(this, "set", key, value, ttl, flags, OP_SET);
  }

  /** As set, but never evicts: `no memory` when the zone is full. */
  safeSet(
    key: Key,
    value: ShdictValue | null | undefined,
    ttl?: number | string,
    flags?: number,
  ): StoreResult {
    return SharedDict.#store(this, "safeSet", key, value, ttl, flags, OP_SET | OP_SAFE);
  }

  /** Stores only when the key is missing or expired; else `exists`. */
  add(key: Key, value: ShdictValue, ttl?: number | string, flags?: number): StoreResult {
    return SharedDict.#store(this, "add", key, present("add", value), ttl, flags, OP_ADD);
  }

  /** As add, but never evicts. */
  safeAdd(key: Key, value: ShdictValue, ttl?: number | string, flags?: number): StoreResult {
    return SharedDict.#store(this, "safeAdd", key, present("safeAdd", value), ttl, flags, OP_ADD | OP_SAFE);
  }

  /** Stores only when the key exists and has not expired; else `not found`. */
  replace(key: Key, value: ShdictValue, ttl?: number | string, flags?: number): StoreResult {
    return SharedDict.#store(this, "replace", key, present("replace", value), ttl, flags, OP_REPLACE);
  }

  /** Removes the key; always `{ ok: true, forcible: false }`. */
  delete(key: Key): StoreResult {
    return SharedDict.#store(this, "delete", key, undefined, undefined, undefined, OP_SET);
  }

  static #store(
    self: unknown,
    where: string,
    key: Key,
    value: unknown,
    ttl: unknown,
    flags: unknown,
    op: number,
  ): StoreResult {
    const zone = SharedDict.#zoneOf(self, where);
    const k = checkKey(where, key);
    const v = checkValue(where, value);
    const ms = ttl === undefined ? 0 : ttlMs(where, "ttl", ttl);
    const f = flags === undefined ? 0 : checkFlags(where, flags);
    return storeResult(where, zone.store(k, v, ms, f, op));
  }

  /**
   * Adds `value` to a number. A missing or expired key gives `not found`, unless `init` is
   * given: then it stores `init + value` with `initTtl` (seconds) and `forcible` tells of
   * evictions. An existing number keeps its ttl.
   */
  incr(key: Key, value: number | string, init?: number | string, initTtl?: number | string): IncrResult {
    const zone = SharedDict.#zoneOf(this, "incr");
    const k = checkKey("incr", key);
    const delta = toNumber("incr", "value", value);
    let initial: number | undefined;
    let ms = 0;
    if (init !== undefined) initial = toNumber("incr", "init", init);
    if (initTtl !== undefined) {
      if (initial === undefined)
        throw new InvalidArgValueError("incr", "init", 'a number when "initTtl" is given', init);
      ms = ttlMs("incr", "initTtl", initTtl);
    }
    const outcome = zone.incr(k, delta, initial, ms);
    if (outcome >> 1 === OK) return { ok: true, value: scratch[0] ?? 0, forcible: forcibleOf(outcome) };
    const reason = reasonOf("incr", outcome);
    if (reason !== "not found" && reason !== "not a number" && reason !== "no memory")
      unexpected("incr", outcome);
    return { ok: false, reason, forcible: forcibleOf(outcome) };
  }

  /** Inserts at the head of the list at `key` (a new list when missing); never evicts. */
  lpush(key: Key, value: string | number): PushResult {
    return SharedDict.#push(this, "lpush", key, value, true);
  }

  /** Appends to the tail of the list at `key`. */
  rpush(key: Key, value: string | number): PushResult {
    return SharedDict.#push(this, "rpush", key, value, false);
  }

  static #push(self: unknown, where: string, key: Key, value: unknown, left: boolean): PushResult {
    const outcome = SharedDict.#zoneOf(self, where).push(
      checkKey(where, key),
      checkListValue(where, value),
      left,
    );
    if (outcome === OK) return { ok: true, length: scratch[0] ?? 0 };
    const reason = reasonOf(where, outcome);
    if (reason !== "value not a list" && reason !== "no memory") unexpected(where, outcome);
    return { ok: false, reason };
  }

  /** Removes and returns the head of the list; `value` undefined when missing or empty. */
  lpop(key: Key): PopResult {
    return SharedDict.#pop(this, "lpop", key, true);
  }

  /** Removes and returns the tail of the list. */
  rpop(key: Key): PopResult {
    return SharedDict.#pop(this, "rpop", key, false);
  }

  static #pop(self: unknown, where: string, key: Key, left: boolean): PopResult {
    const value = SharedDict.#zoneOf(self, where).pop(checkKey(where, key), left) as
      string | number | undefined;
    if (value !== undefined) return { ok: true, value };
    const reason = reasonOf(where, scratch[0] ?? 0);
    return reason === "value not a list" ? NOT_A_LIST : EMPTY_POP;
  }

  /** The list's length; 0 when the key is missing. */
  llen(key: Key): LengthResult {
    const outcome = SharedDict.#zoneOf(this, "llen").llen(checkKey("llen", key));
    if (outcome === OK) return { ok: true, length: scratch[0] ?? 0 };
    reasonOf("llen", outcome);
    return NOT_A_LIST;
  }

  /**
   * Seconds left (ms resolution); 0 for an item that never expires; negative for an expired
   * item not yet freed (as OpenResty).
   */
  ttl(key: Key): TtlResult {
    const outcome = SharedDict.#zoneOf(this, "ttl").ttl(checkKey("ttl", key));
    if (outcome === OK) return { ok: true, ttl: (scratch[0] ?? 0) / 1000 };
    reasonOf("ttl", outcome);
    return NOT_FOUND;
  }

  /** Sets the ttl in seconds (0 = never); also revives an expired item not yet freed. */
  expire(key: Key, ttl: number | string): ExpireResult {
    const zone = SharedDict.#zoneOf(this, "expire");
    const k = checkKey("expire", key);
    const given: unknown = ttl;
    if (given === undefined) throw new InvalidArgTypeError("expire", "ttl", SECONDS_EXPECTED, ttl);
    const outcome = zone.expire(k, ttlMs("expire", "ttl", ttl));
    if (outcome === OK) return EXPIRED_OK;
    reasonOf("expire", outcome);
    return NOT_FOUND;
  }

  /** Marks every item expired and frees a few; `flushExpired` frees the rest. */
  flushAll(): void {
    reasonOf("flushAll", SharedDict.#zoneOf(this, "flushAll").flushAll());
  }

  /** Frees expired items (at most `max`; 0 = all) and returns how many. */
  flushExpired(max = 0): number {
    reasonOf(
      "flushExpired",
      SharedDict.#zoneOf(this, "flushExpired").flushExpired(checkCount("flushExpired", "max", max, 0)),
    );
    return scratch[0] ?? 0;
  }

  /** Keys of unexpired items, least recently used first; at most `max` (0 = all). */
  getKeys(max = 1024): string[] {
    return SharedDict.#zoneOf(this, "getKeys").getKeys(checkCount("getKeys", "max", max, 1024));
  }

  /** The zone's size in bytes, as declared. */
  capacity(): number {
    SharedDict.#zoneOf(this, "capacity");
    return this.#capacity;
  }

  /** Bytes in free blocks of the zone's heap (see docs/shdict.md). */
  freeSpace(): number {
    reasonOf("freeSpace", SharedDict.#zoneOf(this, "freeSpace").stats());
    return scratch[1] ?? 0;
  }
}

/** `dict`'s conditional store (STORE_IF_HOLDS), whichever copy of this module made it. */
function conditionalStore(where: string, dict: unknown): StoreIfHolds {
  const own =
    typeof dict === "object" && dict !== null
      ? (dict as { [STORE_IF_HOLDS]?: unknown })[STORE_IF_HOLDS]
      : undefined;
  if (typeof own !== "function")
    throw new InvalidArgTypeError(where, "dictionary", "a shared dictionary (ngx.shared.NAME)", dict);
  return own as StoreIfHolds;
}

/**
 * `dict` as a SharedDict of this or another copy of this module (lock.ts takes one made by the
 * runtime's copy): anything else throws, so that a Lock is never made on garbage.
 */
export function checkDict(where: string, dict: unknown): SharedDict {
  conditionalStore(where, dict);
  return dict as SharedDict;
}

/**
 * For ngx.lock (lock.ts): while `key` still holds `token` (and has not expired), deletes it
 * (`ttlMs` undefined) or gives it a new ttl, in one step under the shard's lock; else `not found`.
 * So a holder whose lock expired and was taken by another leaves the new holder's lock alone.
 */
export function storeIfHolds(
  where: string,
  dict: SharedDict,
  key: string,
  token: number,
  ttlMs: number | undefined,
): StoreResult {
  return conditionalStore(where, dict).call(dict, where, key, token, ttlMs);
}

/**
 * A compare-and-set of a number, for tsresty's own claims (src/runtime/gates.ts): while `key`
 * holds the number `expect` (and has not expired), stores `value` with the ttl `ttlMs` (0 =
 * never) in one step under the shard's lock; else `not found`. Safe, as `safeSet`: it never
 * evicts another item for room (`no memory` instead).
 */
export function replaceIfHolds(
  where: string,
  dict: SharedDict,
  key: string,
  expect: number,
  value: number,
  ttlMs: number,
): StoreResult {
  return conditionalStore(where, dict).call(dict, where, key, expect, ttlMs, value);
}

function present(where: string, value: unknown): unknown {
  if (value === undefined || value === null) {
    throw new InvalidArgTypeError(where, "value", "a value (attempt to add or replace nil values)", value);
  }
  return value;
}

function unexpected(where: string, outcome: number): never {
  throw new ShdictError(`${where}: unexpected outcome ${outcome} from the zone`);
}
