import { InvalidArgTypeError, InvalidArgValueError, ShdictError } from "../errors.ts";
import { SharedDict } from "./dict.ts";
import { attachNative, binding, scratch, type NativeZone } from "./native.ts";
import { ZONE_MAX_SIZE, ZONE_MIN_SIZE, ZONE_NAME } from "../util/zone-spec.ts";
import { reasonOf } from "./outcomes.ts";
import { errorMessage } from "../util/error-message.ts";

/** A zone to create or attach: its name and its size in bytes. */
export interface ZoneSpec {
  readonly name: string;
  readonly size: number;
}

/** A zone mapped in this process: its memfd descriptor and its dictionary. */
export interface Zone {
  readonly name: string;
  readonly size: number;
  /** The memfd: pass it to a child in `stdio` (zone i at fd 4 + i) for the child to attach. */
  readonly fd: number;
  readonly dict: SharedDict;
}

const natives = new WeakMap<Zone, NativeZone>();

function wrap(spec: ZoneSpec, fd: number, native: NativeZone): Zone {
  const zone: Zone = Object.freeze({
    name: spec.name,
    size: spec.size,
    fd,
    dict: new SharedDict(spec.name, spec.size, native),
  });
  natives.set(zone, native);
  return zone;
}

const NAME_EXPECTED = "a letter or _, then letters, digits and _, 63 characters at most";
const SIZE_EXPECTED = `an integer from ${ZONE_MIN_SIZE} to ${ZONE_MAX_SIZE} (bytes)`;
const FD_EXPECTED = "a file descriptor (an integer from 0 to 2147483647)";

/**
 * The addon reads the name up to a NUL: checked here first, so that "a\0b" is refused rather than
 * made into another name; the size and the fd, which the addon also refuses out of range, get the
 * facade's coded errors.
 */
function checkSpec(where: string, spec: ZoneSpec): void {
  const { name, size } = spec as { name: unknown; size: unknown };
  if (typeof name !== "string") throw new InvalidArgTypeError(where, "name", NAME_EXPECTED, name);
  if (!ZONE_NAME.test(name)) throw new InvalidArgValueError(where, "name", NAME_EXPECTED, name);
  if (typeof size !== "number") throw new InvalidArgTypeError(where, "size", SIZE_EXPECTED, size);
  if (!Number.isInteger(size) || size < ZONE_MIN_SIZE || size > ZONE_MAX_SIZE)
    throw new InvalidArgValueError(where, "size", SIZE_EXPECTED, size);
}

function failure(what: string, spec: ZoneSpec, cause: unknown): ShdictError {
  const reason = errorMessage(cause);
  return new ShdictError(`${what} zone "${spec.name}" (${spec.size} bytes): ${reason}`, { cause });
}

/**
 * Creates a zone: a new memfd of `size` bytes (sealed at that size), formatted and mapped.
 * Linux only. The memory lives until the last process holding the descriptor or a mapping
 * exits; nothing is created in /dev/shm.
 * @example
 * const zone = createZone({ name: "dogs", size: 10 * 1024 * 1024 });
 * spawn(process.execPath, ["child.js"], { stdio: ["ignore", "inherit", "inherit", "ipc", zone.fd] });
 */
export function createZone(spec: ZoneSpec): Zone {
  checkSpec("createZone", spec);
  let fd: number;
  try {
    fd = binding().create(spec.name, spec.size);
  } catch (cause) {
    throw failure("cannot create", spec, cause);
  }
  return attachZone(spec, fd);
}

/**
 * Maps a zone from a descriptor inherited from the process that created it, after checking
 * the zone's header (magic number, layout version, size, name).
 * @example
 * const zone = attachZone({ name: "dogs", size: 10 * 1024 * 1024 }, 4);
 */
export function attachZone(spec: ZoneSpec, fd: number): Zone {
  checkSpec("attachZone", spec);
  const given: unknown = fd;
  if (typeof given !== "number") throw new InvalidArgTypeError("attachZone", "fd", FD_EXPECTED, given);
  if (!Number.isInteger(fd) || fd < 0 || fd > 2 ** 31 - 1)
    throw new InvalidArgValueError("attachZone", "fd", FD_EXPECTED, fd);
  try {
    return wrap(spec, fd, attachNative(fd, spec.name, spec.size));
  } catch (cause) {
    throw failure(`cannot attach fd ${fd} as`, spec, cause);
  }
}

function nativeOf(zone: Zone): NativeZone {
  const native = natives.get(zone);
  if (native === undefined)
    throw new ShdictError(`zone "${zone.name}" was not made by createZone or attachZone`);
  return native;
}

/** What `tsresty status` shows of a zone. */
export interface ZoneStats {
  readonly capacity: number;
  readonly freeSpace: number;
  readonly items: number;
}

/**
 * The zone's capacity, free bytes and item count, read without taking any lock, so that the
 * master (`tsresty status`, /metrics) never waits on a zone, even beside a process stopped
 * while it holds a lock. Each figure is one aligned load; while the zone is being written they
 * may be slightly off one another (`freeSpace()` is the exact figure, under the locks).
 * @example
 * zoneStats(zone); // { capacity: 10485760, freeSpace: 10418048, items: 0 }
 */
export function zoneStats(zone: Zone): ZoneStats {
  reasonOf("zoneStats", nativeOf(zone).peekStats());
  return { capacity: scratch[0] ?? 0, freeSpace: scratch[1] ?? 0, items: scratch[2] ?? 0 };
}

/**
 * Diagnostics for tests and operators: crash recoveries so far (a lock holder died and the
 * next locker repaired the zone), resets (recovery had to empty a shard: never expected),
 * and every structural problem the addon's check() finds (none in a healthy zone).
 * @example
 * assert.deepEqual(zoneHealth(zone).problems, []);
 */
export function zoneHealth(zone: Zone): { recoveries: number; resets: number; problems: string[] } {
  const native = nativeOf(zone);
  reasonOf("zoneHealth", native.stats());
  const recoveries = scratch[3] ?? 0;
  const resets = scratch[4] ?? 0;
  return { recoveries, resets, problems: native.check() };
}

/**
 * Unmaps the zone in this process; later calls on its dictionary throw. The descriptor
 * stays open (close it with fs.closeSync(zone.fd) when no child needs it any more).
 * @example
 * closeZone(zone);
 */
export function closeZone(zone: Zone): void {
  nativeOf(zone).close();
}

/**
 * tsresty's own zone, made beside the declared ones: the claims of `singleton: "host"` timers.
 * Names starting with `__` are refused in the config; `ngx.shared` does not show them.
 */
export const INTERNAL_ZONE: ZoneSpec = Object.freeze({ name: "__tsresty", size: 1024 * 1024 });
