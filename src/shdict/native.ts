/**
 * The shared dictionaries' side of the native addon (native/, loaded by src/util/addon.ts): the
 * zones' functions and the master's few system calls. Nothing else in src/shdict touches it.
 */
import { ShdictError } from "../errors.ts";
import { loadAddon } from "../util/addon.ts";

export { addonFile, useAddonFile } from "../util/addon.ts";

/** One mapped zone: functions bound to it in C (no handle argument to unwrap per call). */
export interface NativeZone {
  /** The value, or undefined; scratch[0] = outcome, [1] = flags, [2] = stale (0/1). */
  get(key: string): unknown;
  getStale(key: string): unknown;
  /** value undefined deletes; op = OP_* flags; expect = OP_IF_NUMBER's number. Returns an outcome. */
  store(key: string, value: unknown, ttlMs: number, flags: number, op: number, expect?: number): number;
  /** init undefined = no init. scratch[0] = the new value. */
  incr(key: string, delta: number, init: number | undefined, initTtlMs: number): number;
  /** scratch[0] = the new length. */
  push(key: string, value: string | number, left: boolean): number;
  /** The value, or undefined; scratch[0] = outcome. */
  pop(key: string, left: boolean): unknown;
  /** scratch[0] = the length. */
  llen(key: string): number;
  /** scratch[0] = milliseconds left (negative once expired, 0 = never). */
  ttl(key: string): number;
  expire(key: string, ttlMs: number): number;
  flushAll(): number;
  /** scratch[0] = items freed. */
  flushExpired(max: number): number;
  getKeys(max: number): string[];
  /** scratch[0..4] = capacity, free bytes, items, recoveries, resets (under each shard's lock). */
  stats(): number;
  /**
   * As stats(), read without any lock: never waits, figures may be slightly off one another. The
   * free bytes count what the reserves of ended processes hold, which stats() and the next store
   * that needs the room give back; scratch[5] = those bytes.
   */
  peekStats(): number;
  /** Every inconsistency found in the zone's structures (none in a healthy zone). */
  check(): string[];
  close(): void;
}

/**
 * Whether `value` is a zone object the addon made (attachNative's result): SharedDict's
 * constructor, reachable as `ngx.shared.NAME.constructor`, refuses anything else. An object that
 * only has the zone's methods is not one: its store() would "store" nothing and say ok.
 */
export function isNativeZone(value: unknown): value is NativeZone {
  return typeof value === "object" && value !== null && made.has(value);
}

/**
 * The addon's few system calls that Node lacks, for the master (native/src/system.c). They live
 * in this addon, and so behind this loader, because it is the one native module tsresty builds.
 * A pid, descriptor or other integer argument that is not an integer in the call's range (a
 * fraction, NaN, a string, a number past 2^31) throws, naming the call and the argument: none is
 * wrapped into another number.
 */
export interface SystemCalls {
  /**
   * Sends `message` as one datagram to a unix socket (a path, or `@name`), without waiting:
   * undefined when sent, null when the receiver's queue is full (nothing sent), else the error.
   */
  notify(socket: string, message: string): string | null | undefined;
  /** listen(2) on a bound socket, which nothing in this process accepts on: 0, or the errno. */
  listen(fd: number, backlog: number): number;
  /** waitpid(pid, WNOHANG): the pid once reaped, 0 while it runs, -1 when it is not our child. */
  reap(pid: number): number;
  /** prctl(PR_SET_CHILD_SUBREAPER, 1): 0, or the errno. Orphans of descendants become children. */
  subreaper(): number;
  /** A non-blocking datagram socket bound at `socket` (tests play systemd with it). */
  datagramBind(socket: string): number;
  /**
   * The next datagram on `fd`, or undefined when none waits. This and datagramClose throw for a
   * descriptor that is not a unix datagram socket.
   */
  datagramReceive(fd: number): string | undefined;
  datagramClose(fd: number): void;
  /**
   * From now on a second SIGINT or SIGTERM ends the process at once, exit 128 + the signal (the
   * first still reaches the process's own handler): 0, or the errno (EINVAL: one is ignored). A
   * signal at its default action is left as it is (its first one ends the process).
   */
  exitOnSecondStopSignal(): number;
  /**
   * The main thread answered a stop signal (its listeners run): the next one counts as a first one
   * again, so that a process that is not busy gets each one.
   */
  stopSignalAnswered(): void;
  /**
   * From now on an abort (a fatal error, process.abort()) SIGKILLs the groups of the pipe children
   * the addon started first, as the process's exit handlers, which an abort skips, would have:
   * 0, or the errno.
   */
  endPipeGroupsOnAbort(): number;
  /** FD_CLOEXEC on every descriptor from `first` up: 0, or the errno. */
  closeOnExecFrom(first: number): number;
  /**
   * For a child of the master: once its parent is no longer `parentPid` (the master died), the
   * process is SIGKILLed `graceMs` later, even while its main thread is busy. Once a process: 0,
   * or the errno.
   */
  exitWithParent(parentPid: number, graceMs: number): number;
}

interface Binding extends SystemCalls {
  create(name: string, size: number): number;
  attach(fd: number, name: string, size: number): NativeZone;
  setScratch(scratch: Float64Array): void;
  /** Arms a CRASH_POINT: the process dies there; a negative point stops it there once (SIGSTOP). */
  crashAt(point: number): void;
  /**
   * How often a read may move an item to the LRU head, in this process: 1 = once a second (the
   * default: reads that move nothing write nothing and scale across processes), 0 = every read
   * (tests of the eviction order), -1 = never (tests of reads without the lock).
   */
  readBumpSeconds(seconds: 1 | 0 | -1): void;
  /** Seconds added, in this process, to the clock that decides whether a read moves an item (tests). */
  readClockSkew(seconds: number): void;
  /** This process's gets so far: answered without the lock, reads retried, answered under it. */
  readCounts(): [unlocked: number, retried: number, locked: number];
  /** This process's incr and sets of numbers so far: made without the lock, tries made again, made under it. */
  writeCounts(): [unlocked: number, retried: number, locked: number];
  /** This process's adds of numbers and booleans so far: made without the lock, tries made again, made under it. */
  addCounts(): [unlocked: number, retried: number, locked: number];
}

/** Store flags, as OpenResty's. */
export const OP_SET = 0;
export const OP_ADD = 1;
export const OP_REPLACE = 2;
export const OP_SAFE = 4;
/** Only when the key's live item holds the number given (ngx.lock's token), else "not found". */
export const OP_IF_NUMBER = 8;

/**
 * Where the addon writes secondary results, so that hot calls allocate nothing. One per addon
 * instance, not per copy of this module: require() gives every copy of the facade in a process
 * (a bundle that inlined it, the same file under another URL) the same addon, and a second
 * setScratch would take the first copy's results away. The first copy to load the addon keeps
 * its array on the addon's exports; later copies adopt it (a live binding: readers see it).
 */
export let scratch: Float64Array = new Float64Array(8);
const SCRATCH = Symbol.for("tsresty.shdict.scratch");
/** The zone objects the addon made, kept on its exports as the scratch array is (every copy sees them). */
let made = new WeakSet<object>();
const MADE = Symbol.for("tsresty.shdict.zones");

let loaded: Binding | undefined;

/**
 * The addon of this process, loaded on first use, so that processes without zones never load
 * it, and a platform without it (not Linux) fails only where a zone is made.
 */
export function binding(): Binding {
  if (loaded === undefined) {
    try {
      loaded = loadAddon() as Binding;
    } catch (cause) {
      const why = cause instanceof Error ? (cause.message.split("\n")[0] ?? "") : String(cause);
      throw new ShdictError(
        `tsresty's native addon could not be loaded (${why}): zones and \`tsresty start\` need it, on Linux; an installed package without a prebuilt binary for this platform builds it in its install script: \`npm approve-scripts tsresty\`, or \`npm rebuild tsresty\`; in a checkout, \`npm ci\` builds it`,
        { cause },
      );
    }
    const addon = loaded as Binding & { [SCRATCH]?: Float64Array; [MADE]?: WeakSet<object> };
    if (addon[SCRATCH] === undefined) {
      addon.setScratch(scratch);
      addon[SCRATCH] = scratch;
    } else scratch = addon[SCRATCH];
    if (addon[MADE] === undefined) addon[MADE] = made;
    else made = addon[MADE];
  }
  return loaded;
}

/** The addon's attach(), its zone object recorded as one it made (isNativeZone). */
export function attachNative(fd: number, name: string, size: number): NativeZone {
  const zone = binding().attach(fd, name, size);
  made.add(zone);
  return zone;
}

/** The addon's system calls (see SystemCalls); throws a ShdictError where the addon cannot load. */
export function systemCalls(): SystemCalls {
  return binding();
}
