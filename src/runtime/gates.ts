/**
 * Where singleton timers claim their ticks (see src/timer/gate.ts for the claim's part in a tick).
 *
 * `singleton: "host"` claims in tsresty's own shared dictionary, `__tsresty`, which the master makes
 * beside the declared zones and every process of the tree maps. Each name has one key,
 * `singleton:NAME`, holding the due time of the latest tick claimed: a tick is claimed by the
 * process that raises it to its due (`add` when missing, else a compare-and-set of the number
 * read), atomic under the zone's lock; a process that finds it at the tick's due or later lost.
 * That is OpenResty's own idiom for "run once" (a shdict `add` as a lock), kept per tick without
 * a key per tick: a slow process that wakes late for a tick finds it claimed (or a later one), and
 * nothing is released after a run for another process to take again. The key outlives the moment
 * its tick can no longer run anywhere (hostClaimTtl). One key per name, however fast the timer
 * ticks: with a key per tick, a few hundred timers of 10 ms held more claims at once than the
 * 1 MiB zone has room for, and ticks were lost. Built on the shared dictionary rather than on the
 * master because a claim is then a call or two in the claiming process, with no round trip and
 * nothing that depends on the master answering; single mode (one process, its own zone) works
 * the same way.
 *
 * `singleton: "cluster"` claims in Redis (src/coord), created when the first tick is claimed.
 *
 * `catchUp` asks for the last run: the zone keeps it while the tree lives, and a file under the
 * prefix (`timers/NAME.last`) keeps it across a full stop, for the names that asked, beside the
 * latest tick claimed (`NAME.claimed`, unless `NAME.unrun` says it did not run well), which
 * counts as run: a tick whose run the tree died in is missed, not caught up.
 */
import {
  closeSync,
  constants,
  fstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { redactedUrl, type RedisGate, type RedisGateOptions } from "../coord/index.ts";
import type { ResolvedConfig } from "../config/index.ts";
import { TIMERS_DIR } from "../ipc/index.ts";
import type { Identity } from "../process/index.ts";
import {
  createZone,
  installedZone,
  installedZones,
  installZones,
  INTERNAL_ZONE,
  MAX_TTL_SECONDS,
  replaceIfHolds,
  type Zone,
} from "../shdict/index.ts";
import type { TickGate, TimerGates } from "../timer/index.ts";
import type { LogSink } from "../util/log.ts";
import { errorMessage } from "../util/error-message.ts";

/**
 * How long past a host claim's making it must keep a late process from winning the tick again.
 * Bounds a backward step of the wall clock (a claim is judged on the wall clock, expires on the
 * monotonic one) and a timer that fires a little before its wall-clock due.
 */
const HOST_CLAIM_MARGIN_MS = 1_000;

/** How many times a host claim reads and stores before it reports the key as unusable. */
const CLAIM_TRIES = 100;

/**
 * How long a host claim of a tick of `spanMs` (the gap to the next tick) lives in the zone.
 *
 * A claim only has to exist while another process of the host could still win the tick and run
 * it. Every process of the host reads the same wall clock, and asks the zone synchronously, so
 * the claim is answered at the moment it is made; a claim answered at or after `tick + span` is
 * not run (src/timer/singleton.ts, "late"; a catch-up claims the latest past tick at once, so
 * before its `tick + span` too). A claim made at `tick` or later and kept `span` plus a margin
 * therefore outlives every claim of that tick that could run. Not a minute at least (as cluster
 * claims are, whose answers come over a network, judged on another clock): a one-millisecond
 * timer kept 60,000 claims at once and filled the 1 MiB zone, which stopped every host singleton
 * of the host. Now a timer holds about `(span + margin) / span` claims: about 1,000 for the
 * shortest interval (1 ms), 2 for one of a second or more.
 *
 * Capped at the zone's longest ttl (10^9 s, about 31.7 years): ticks can be further apart (an
 * `every` of 10^9 s, a cron naming the years 2030 and 2070), and a ttl beyond the bound made the
 * zone refuse every claim of such a tick, so it never ran. Only a process waking more than 31
 * years late could then win the tick again.
 * @example
 * hostClaimTtl(1); // 1001
 */
const hostClaimTtl = (spanMs: number): number =>
  Math.min(spanMs + HOST_CLAIM_MARGIN_MS, MAX_TTL_SECONDS * 1000);

/** tsresty's own zone: the master's, or (single mode) one this process makes when first needed. */
function internalZone(): Zone {
  const zone = installedZone(INTERNAL_ZONE.name);
  if (zone !== undefined) return zone;
  const made = createZone(INTERNAL_ZONE);
  installZones([...installedZones(), made]);
  return made;
}

/** A long name's stand-in: its SHA-256. */
function digest(name: string): string {
  // Loaded here, for the rare long name: importing node:crypto costs every process ~2 ms at boot.
  const { createHash } = process.getBuiltinModule("node:crypto");
  return `sha256-${createHash("sha256").update(name).digest("hex")}`;
}

/**
 * A timer's file name: its name, encoded; a name whose encoding would pass a file name's 255
 * bytes (with ".claimed" and a temporary file's suffix) is kept under the SHA-256 of the name instead.
 */
function fileName(name: string): string {
  const encoded = encodeURIComponent(name);
  return encoded.length <= 200 ? encoded : digest(name);
}

/**
 * A timer's name in the zone's keys (`singleton:NAME`, `last:NAME`): a name of more than 200
 * UTF-16 units goes by its SHA-256, so that a few hundred names of 65,000 bytes do not fill the
 * 1 MiB zone (when each tick had a key, one such timer every 50 ms filled it on its own).
 */
const zoneNames = new Map<string, string>();
function zoneName(name: string): string {
  if (name.length <= 200) return name;
  let named = zoneNames.get(name);
  if (named === undefined) {
    if (zoneNames.size >= 64) zoneNames.clear(); // names made afresh must not grow it for ever
    zoneNames.set(name, (named = digest(name)));
  }
  return named;
}

/**
 * What `PREFIX/timers` keeps of a catchUp name: its last run that ended well, the latest tick
 * claimed, and the latest claimed tick reported as not run well.
 */
type TimerRecordKind = "last" | "claimed" | "unrun";

/** A record's longest text: a due in milliseconds and a newline, with room to spare. */
const RECORD_BYTES = 64;

class HostGate implements TickGate {
  readonly #dir: string;
  /** Names whose last run is kept on disk too (they asked for it: catchUp). */
  readonly #kept = new Set<string>();

  constructor(prefix: string) {
    this.#dir = join(prefix, TIMERS_DIR);
  }

  claim(name: string, due: number, intervalMs: number): boolean {
    const dict = internalZone().dict;
    const key = `singleton:${zoneName(name)}`;
    const ttlMs = hostClaimTtl(intervalMs);
    const failed = (why: string): Error =>
      new Error(`cannot claim a tick in the shared dictionary ${INTERNAL_ZONE.name}: ${why}`);
    // A try fails only when another process raised the key between its read and its store: the
    // next read sees it nearer this due, so the loop ends; the bound is a safeguard.
    let flushed = false;
    for (let tries = 0; tries < CLAIM_TRIES; tries++) {
      const held = dict.get(key);
      if (held !== undefined && typeof held !== "number")
        throw failed(`its key ${key} holds ${typeof held}, not a tick's due time`);
      if (held !== undefined && held >= due) return false;
      // Safe stores: a claim never evicts another one (a claim evicted before its time would let
      // a process that wakes late run the tick again); a full zone fails the claim instead.
      const result =
        held === undefined
          ? dict.safeAdd(key, due, ttlMs / 1000)
          : replaceIfHolds("claim", dict, key, held, due, ttlMs);
      if (result.ok) {
        if (this.#kept.has(name)) this.#recordClaim(name, due);
        return true;
      }
      // Full: the claims of names no longer used have expired, but a store frees only those at
      // the zone's oldest end, where a key without expiry (a catchUp name's last run) or a slow
      // timer's live claim can sit for ever. Freed all at once, never a live claim.
      if (result.reason === "no memory" && !flushed) {
        flushed = true;
        dict.flushExpired();
        continue;
      }
      if (result.reason !== "exists" && result.reason !== "not found") throw failed(result.reason);
    }
    throw failed(`its key ${key} kept changing`);
  }

  settled(name: string, due: number, ok: boolean): void {
    if (!ok) {
      // A tick that did not run (or whose run threw) is not the last run: catchUp may replay it.
      // Said only of the tick the record holds as claimed (a later claim is its own).
      if (this.#kept.has(name) && this.#read(name, "claimed") === due) this.#write(name, "unrun", due);
      return;
    }
    // Only a catchUp name's last run is kept (in the zone while the tree lives, on disk across a
    // full stop): one kept for every name stayed for ever, and names no longer used (renamed
    // timers, a timer per tenant) filled the zone, where claims then failed with "no memory".
    if (!this.#kept.has(name)) return;
    const dict = internalZone().dict;
    const last = dict.get(`last:${zoneName(name)}`);
    if (typeof last === "number" && last >= due) return;
    dict.safeSet(`last:${zoneName(name)}`, due);
    this.#write(name, "last", due);
  }

  keep(name: string): void {
    this.#kept.add(name);
  }

  lastRun(name: string): number | null {
    this.keep(name);
    const inZone = internalZone().dict.get(`last:${zoneName(name)}`);
    const claimed = this.#read(name, "claimed");
    // A tick claimed and not reported as not run well: it ran, or its process died in it.
    const taken = claimed !== null && claimed !== this.#read(name, "unrun") ? claimed : null;
    const candidates = [typeof inZone === "number" ? inZone : null, this.#read(name, "last"), taken].filter(
      (n): n is number => n !== null,
    );
    return candidates.length === 0 ? null : Math.max(...candidates);
  }

  /**
   * Keeps on disk that tick `due` of `name` was claimed here, before it runs: across a full stop
   * the zone's claims are gone, and a tick whose run the tree died in (a fast stop, the master
   * SIGKILLed) must not be caught up as missed when the tree starts again within its span (it
   * ran twice). Not made to go back: a process slower to write than one that claimed a later
   * tick since leaves the later one. A write that fails is not the claim's failure (the tick
   * runs); the run's end, recorded in the same directory, says it.
   */
  #recordClaim(name: string, due: number): void {
    try {
      const held = this.#read(name, "claimed");
      if (held === null || held < due) this.#write(name, "claimed", due);
      // Claimed again (catchUp replaying a tick that did not run well): it is taken once more.
      else if (held === due && this.#read(name, "unrun") === due)
        rmSync(this.#path(name, "unrun"), { force: true });
    } catch {
      // said when the run's end is recorded
    }
  }

  /**
   * A record of `name` on disk (`PREFIX/timers/NAME.last`, `.claimed`, `.unrun`): a tick's due.
   *
   * The directory belongs to the workers' user while the agent may be root: what is there may have
   * been planted by a worker. So a record is read only from a regular file (a symbolic link is not
   * followed, and a FIFO, opened without blocking, is not waited on), and a temporary file is made
   * afresh under a name no one could guess, never written through a file or link already there.
   */
  #read(name: string, record: TimerRecordKind): number | null {
    let fd: number;
    try {
      fd = openSync(
        this.#path(name, record),
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      );
    } catch {
      return null; // never written here, a fresh prefix, or a symbolic link
    }
    try {
      if (!fstatSync(fd).isFile()) return null;
      const bytes = Buffer.alloc(RECORD_BYTES);
      return Number(bytes.toString("utf8", 0, readSync(fd, bytes)).trim()) || null;
    } finally {
      closeSync(fd);
    }
  }

  #write(name: string, record: TimerRecordKind, due: number): void {
    mkdirSync(this.#dir, { recursive: true });
    const file = this.#path(name, record);
    // A temporary file of this process's own: the agent (root) and the workers (config.user)
    // share the directory, which the master gives to the workers' user; renaming over a file
    // needs only the directory, whoever owns the file (or link: it is replaced, not followed).
    const temporary = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      writeFileSync(temporary, `${due}\n`, { flag: "wx", mode: 0o644 }); // O_EXCL: made here, now
      renameSync(temporary, file);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw error;
    }
  }

  #path(name: string, record: TimerRecordKind): string {
    return join(this.#dir, `${fileName(name)}.${record}`);
  }
}

/**
 * The cluster gate, loaded and connected when first used: a process with no cluster timer never
 * loads the Redis client. `settled` and `fence` only follow a claim, when the gate exists.
 */
class LazyClusterGate implements TickGate {
  readonly #options: RedisGateOptions;
  #making: Promise<RedisGate> | null = null;
  #gate: RedisGate | null = null;
  /** catchUp names kept before the client was made (it is made at a cluster timer's creation). */
  readonly #kept = new Set<string>();
  /** Whether ticks are claimed: not while a reload moves the coordinator (Gates.claimCluster). */
  claiming = true;

  constructor(options: RedisGateOptions) {
    this.#options = options;
  }

  #get(): Promise<RedisGate> {
    return (this.#making ??= import("../coord/redis-gate.ts")
      .then(({ RedisGate }) => {
        const gate = new RedisGate(this.#options);
        for (const name of this.#kept) gate.keep(name);
        return (this.#gate = gate);
      })
      .catch((error: unknown) => {
        // Every claim fails with this error: it names the coordinator, not only the client's
        // words (ioredis says "URI malformed" of a password it cannot percent-decode).
        const why = errorMessage(error);
        throw new Error(`cannot make the client of coordinator ${redactedUrl(this.#options.url)}: ${why}`, {
          cause: error,
        });
      }));
  }

  /** The gate, when it was made already. */
  get made(): RedisGate | null {
    return this.#gate;
  }

  /** Loads the client and starts connecting when the first cluster timer is made, not at its first tick. */
  prepare(): void {
    this.#get().catch(() => undefined); // a failed load fails the first claim, which says so
  }

  async claim(name: string, due: number, intervalMs: number): Promise<boolean> {
    // Not claimed, as a tick another process won: the next generation claims it elsewhere.
    if (!this.claiming) return false;
    return (await this.#get()).claim(name, due, intervalMs);
  }

  settled(name: string, due: number, ok: boolean): void {
    this.#gate?.settled(name, due, ok);
  }

  keep(name: string): void {
    this.#kept.add(name);
    this.#gate?.keep(name);
  }

  async lastRun(name: string): Promise<number | null> {
    return (await this.#get()).lastRun(name);
  }
}

export interface Gates extends TimerGates {
  /** The fencing token of the cluster tick `due` (epoch ms) of `name` this process runs, if any. */
  fence(name: string, due: number): number | null;
  /**
   * Stops (false) or resumes (true) claiming cluster ticks: the master stops the running
   * generation's claims while a reload that moves the coordinator brings up the next one, whose
   * claims go elsewhere and would win the same ticks; the ticks due meanwhile are missed
   * (counted as skipped), none runs twice. A claim already out is answered as it comes.
   */
  claimCluster(on: boolean): void;
}

export function createGates(config: ResolvedConfig, identity: Identity, prefix: string, log: LogSink): Gates {
  const owner = `${identity.type} ${identity.workerId ?? "-"} pid ${process.pid}`;
  const coordinator = config.coordinator;
  const cluster =
    coordinator === null
      ? undefined
      : new LazyClusterGate({ url: coordinator.url, keyPrefix: coordinator.keyPrefix, owner, log });
  return {
    host: new HostGate(prefix),
    ...(cluster === undefined ? {} : { cluster }),
    fence: (name, due) => cluster?.made?.fence(name, due) ?? null,
    claimCluster: (on) => {
      if (cluster !== undefined) cluster.claiming = on;
    },
  };
}
