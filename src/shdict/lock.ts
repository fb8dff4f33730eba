/**
 * `ngx.lock`: lua-resty-lock on a zone. A lock is a key added to the zone with a ttl
 * (`exptime`); waiting polls `add` with lua-resty-lock's backoff (step, ×ratio, capped by
 * maxStep and what is left of the timeout) on timers, so the event loop never blocks. A
 * holder that dies without unlocking leaves a key that expires after `exptime`.
 *
 * The key's value is a random token of this acquisition (lua-resty-lock stores `true`):
 * `unlock()` and `expire()` act only while the key still holds it, in one step under the
 * shard's lock, so a holder whose lock expired and was taken by another does not release or
 * extend the new holder's lock. A Lock collected while it holds its key releases it, as
 * lua-resty-lock's `__gc` does: a holder that returned without `unlock()` keeps waiters until
 * the collection, not for the whole exptime. So does a process that exits while its Locks hold
 * keys (a worker whose graceful exit cut a job at shutdownTimeout, a `process.exit()`): nginx
 * closes the worker's Lua VM as it exits, which runs every lock's `__gc`. Only a process killed
 * (SIGKILL, a crash of the engine) leaves its keys for their exptime.
 */
import { randomInt } from "node:crypto";
import { InvalidArgTypeError, InvalidArgValueError } from "../errors.ts";
import { longTimeout } from "../util/long-timeout.ts";
import { ownOptions } from "../util/options.ts";
import { checkDict, storeIfHolds, type SharedDict } from "./dict.ts";
import { sharedDicts } from "./installed.ts";
import { checkKey, type Key, MAX_TTL_SECONDS, ttlMs } from "./validate.ts";

/**
 * Options of `ngx.lock`, as lua-resty-lock's (seconds).
 * @example
 * const lock = ngx.lock("locks", { exptime: 10, timeout: 2 });
 */
export interface LockOptions {
  /** Seconds the lock key lives, so that a dead holder's lock goes away (default 30). */
  readonly exptime?: number;
  /** Seconds `lock()` waits at most (default 5; 0 = try once). Capped by exptime. */
  readonly timeout?: number;
  /** First wait between tries, in seconds (default 0.001). */
  readonly step?: number;
  /** Each wait is the previous one times `ratio` (default 2). */
  readonly ratio?: number;
  /** Longest wait between tries, in seconds (default 0.5). */
  readonly maxStep?: number;
}

/**
 * `lock.lock(key, exptime?)`: the seconds waited, or why not (`timeout`, `locked` when this lock already holds a key, `no memory`).
 * @example
 * const got = await ngx.lock("locks").lock("refresh");
 * if (!got.ok) return; // "timeout": someone else refreshes
 */
export type LockResult =
  | { readonly ok: true; readonly elapsed: number }
  | { readonly ok: false; readonly reason: "timeout" | "locked" | "no memory" };

/**
 * `lock.unlock()`: done, or why not (`unlocked`: nothing held; `not found`: the key expired).
 * @example
 * const released = lock.unlock(); // { ok: true }, or "unlocked" when it held nothing
 */
export type UnlockResult =
  { readonly ok: true } | { readonly ok: false; readonly reason: "unlocked" | "not found" };

const KNOWN = ["exptime", "timeout", "step", "ratio", "maxStep"] as const;

/** A seconds option from `min` to MAX_TTL_SECONDS (every wait is bounded by exptime, itself a ttl). */
function seconds(name: string, value: unknown, fallback: number, min: number, where = "ngx.lock"): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw new InvalidArgTypeError(where, name, "a number of seconds", value);
  if (!(value >= min && value <= MAX_TTL_SECONDS)) {
    throw new InvalidArgValueError(
      where,
      name,
      `a number of seconds from ${min} to ${MAX_TTL_SECONDS}`,
      value,
    );
  }
  return value;
}

/** `ratio`, the factor between two waits: at least 1 (a shrinking wait would spin). */
function factor(value: unknown): number {
  if (value === undefined) return 2;
  if (typeof value !== "number") throw new InvalidArgTypeError("ngx.lock", "ratio", "a number >= 1", value);
  if (!(value >= 1) || value === Infinity)
    throw new InvalidArgValueError("ngx.lock", "ratio", "a finite number >= 1", value);
  return value;
}

interface Settings {
  readonly exptime: number;
  readonly timeout: number;
  readonly step: number;
  readonly ratio: number;
  readonly maxStep: number;
}

function settings(input: unknown): Settings {
  if (input === undefined) return { exptime: 30, timeout: 5, step: 0.001, ratio: 2, maxStep: 0.5 };
  const options = ownOptions("ngx.lock", input, KNOWN) as LockOptions;
  const exptime = seconds("exptime", options.exptime, 30, 0.001);
  // A timeout given is capped by the option's exptime here, as lua-resty-lock's new() caps it;
  // the default is not: each lock() caps it by the exptime of that call (lock(key, exptime)).
  const given = seconds("timeout", options.timeout, 5, 0);
  const timeout = options.timeout === undefined ? given : Math.min(given, exptime);
  const step = Math.min(seconds("step", options.step, 0.001, 0.001), Math.max(timeout, 0.001));
  const ratio = factor(options.ratio);
  const maxStep = seconds("maxStep", options.maxStep, 0.5, 0.001);
  return { exptime, timeout, step, ratio, maxStep };
}

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => {
    longTimeout(resolve, Math.max(1, Math.round(seconds * 1000)));
  });
}

interface Held {
  readonly dict: SharedDict;
  readonly key: string;
  readonly token: number;
}

/** The keys this process's Locks hold, released if it exits holding them (see the module's comment). */
const holding = new Set<Held>();
let exitHooked = false;

/** Releases a key no Lock will release (collected, or the process exits), if it still holds it. */
function release(held: Held, where: string): void {
  holding.delete(held);
  try {
    storeIfHolds(where, held.dict, held.key, held.token, undefined);
  } catch {
    // The zone is closed: nothing holds the key any longer but its ttl.
  }
}

/** Releases the key of a Lock collected while it held it (see the module's comment). */
const collected = new FinalizationRegistry<Held>((held) => {
  release(held, "lock (collected)");
});

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  // Node collects nothing at exit, where Lua's close runs every lock's __gc.
  process.on("exit", () => {
    for (const held of holding) release(held, "lock (exit)");
  });
}

/**
 * One lock object: holds at most one key at a time (a second `lock()` while it holds or waits
 * gives `locked`).
 * @example
 * const lock = ngx.lock("locks", { timeout: 2 });
 * const got = await lock.lock("refresh:users");
 * if (got.ok) { try { await refresh(); } finally { lock.unlock(); } }
 */
export class Lock {
  readonly #dict: SharedDict;
  readonly #settings: Settings;
  /** The held key and its value, this acquisition's token (see the module's comment). */
  #held: Held | null = null;
  #busy = false;

  /**
   * As `ngx.lock(zone, options)` with the zone's dictionary: the dictionary and the options are
   * checked here (the class is reachable as `lock.constructor`).
   */
  constructor(dict: SharedDict, options?: LockOptions) {
    this.#dict = checkDict("ngx.lock", dict);
    this.#settings = settings(options);
  }

  /** `self` as a Lock: a method called without its Lock (`const { unlock } = lock`) gets a clear error. */
  static #of(self: unknown, where: string): Lock {
    if (typeof self === "object" && self !== null && #held in self) return self;
    throw new InvalidArgTypeError(
      where,
      "this",
      "a Lock: call it on the object ngx.lock() returned, not detached from it",
      self,
    );
  }

  /**
   * Takes the lock for `key`, waiting up to `timeout`; `elapsed` is the seconds waited, by the
   * clock (to the millisecond; lua-resty-lock sums the waits it asked for instead). As
   * lua-resty-lock's `lock(key, exptime)`, an `exptime` given here replaces the option's for
   * this key (its ttl, and the cap of the wait).
   */
  async lock(key: Key, exptime?: number): Promise<LockResult> {
    const self = Lock.#of(this, "lock.lock");
    const name = checkKey("lock.lock", key);
    const ttl = seconds("exptime", exptime, self.#settings.exptime, 0.001, "lock.lock");
    if (self.#busy || self.#held !== null) return { ok: false, reason: "locked" };
    self.#busy = true;
    try {
      return await self.#acquire(name, ttl);
    } finally {
      self.#busy = false;
    }
  }

  async #acquire(key: string, exptime: number): Promise<LockResult> {
    // 48 random bits: two acquisitions of one key by any processes share a token once in 2^48.
    const token = randomInt(1, 2 ** 48);
    const { ratio, maxStep } = this.#settings;
    // Waited by the clock, not by the waits asked for: a timer fires late (by a millisecond,
    // or by as long as the event loop is busy), and summed waits ran past the timeout.
    const started = performance.now();
    const deadline = started + Math.min(this.#settings.timeout, exptime) * 1000;
    let step = this.#settings.step;
    for (let waited = false; ; waited = true) {
      const added = this.#dict.add(key, token, exptime);
      if (added.ok) {
        const held = { dict: this.#dict, key, token };
        this.#held = held;
        holding.add(held);
        hookExit();
        collected.register(this, held, this);
        // Taken at once: no wait, 0 (as lua-resty-lock), not the add's own time, which a slow
        // moment of the machine rounded to a millisecond.
        return { ok: true, elapsed: waited ? Math.round(performance.now() - started) / 1000 : 0 };
      }
      if (added.reason !== "exists") return { ok: false, reason: "no memory" };
      const left = (deadline - performance.now()) / 1000;
      if (left <= 0) return { ok: false, reason: "timeout" };
      await sleep(Math.min(step, left));
      step = Math.min(Math.max(0.001, step * ratio), maxStep);
    }
  }

  /**
   * Releases the held key; `unlocked` when this object holds none; `not found` when the lock
   * expired meanwhile (taken by another since, or not: either way it is left alone).
   */
  unlock(): UnlockResult {
    const self = Lock.#of(this, "lock.unlock");
    const held = self.#held;
    if (held === null) return { ok: false, reason: "unlocked" };
    const released = storeIfHolds("lock.unlock", self.#dict, held.key, held.token, undefined);
    self.#held = null;
    holding.delete(held);
    collected.unregister(self);
    return released.ok ? { ok: true } : { ok: false, reason: "not found" };
  }

  /**
   * Gives the held key a new ttl (default: exptime; 0 = never); `not found` if the lock already
   * expired (taken by another since, or not: either way it is left alone).
   */
  expire(time?: number): UnlockResult {
    const self = Lock.#of(this, "lock.expire");
    const ttl = time === undefined ? self.#settings.exptime : seconds("time", time, 0, 0, "lock.expire");
    const held = self.#held;
    if (held === null) return { ok: false, reason: "unlocked" };
    const replaced = storeIfHolds(
      "lock.expire",
      self.#dict,
      held.key,
      held.token,
      ttlMs("lock.expire", "time", ttl),
    );
    return replaced.ok ? { ok: true } : { ok: false, reason: "not found" };
  }
}

/**
 * `ngx.lock(zone, options)`: a lock on the installed zone `zone`. Throws for an unknown zone.
 * @example
 * const lock = createLock("locks", { exptime: 10, timeout: 1 });
 */
export function createLock(zone: string, options?: LockOptions): Lock {
  const given: unknown = zone;
  // Not converted: an object whose toString names a zone is garbage, not that zone.
  if (typeof given !== "string")
    throw new InvalidArgTypeError("ngx.lock", "zone", "the name of a declared zone (a string)", given);
  const dict = sharedDicts()[zone];
  if (dict === undefined) {
    const known = Object.keys(sharedDicts());
    throw new InvalidArgValueError(
      "ngx.lock",
      "zone",
      known.length === 0
        ? "a declared zone (none is declared: config shdict)"
        : `one of the declared zones (${known.join(", ")})`,
      zone,
    );
  }
  return new Lock(dict, options);
}
