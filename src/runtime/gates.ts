/**
 * Where singleton timers claim their ticks (see src/timer/gate.ts for the claim's part in a tick).
 *
 * `singleton: "host"` claims in tsresty's own shared dictionary, `__tsresty`, which the master makes
 * beside the declared zones and every process of the tree maps: a tick is claimed by the first
 * `add` of its key (`singleton:NAME:DUE`), atomic under the zone's lock. That is OpenResty's own
 * idiom for "run once" (a shdict `add` as a lock), made per tick: a slow process that wakes late
 * for a tick finds it claimed, and nothing is released after a run for another process to take
 * again. The claim outlives the tick (three intervals, a minute at least). Built on the shared
 * dictionary rather than on the master because a claim is then one call in the claiming process,
 * with no round trip and nothing that depends on the master answering; single mode (one process,
 * its own zone) works the same way.
 *
 * `singleton: "cluster"` claims in Redis (src/coord), created when the first tick is claimed.
 *
 * `catchUp` asks for the last run: the zone keeps it while the tree lives, and a file under the
 * prefix (`timers/NAME.last`) keeps it across a full stop, for the names that asked.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { claimTtl, type RedisGate, type RedisGateOptions } from "../coord/index.ts";
import type { ResolvedConfig } from "../config/index.ts";
import type { Identity } from "../process/index.ts";
import {
  createZone,
  installedZone,
  installedZones,
  installZones,
  INTERNAL_ZONE,
  type Zone,
} from "../shdict/index.ts";
import type { TickGate, TimerGates } from "../timer/index.ts";
import type { LogSink } from "../util/log.ts";

/** tsresty's own zone: the master's, or (single mode) one this process makes when first needed. */
function internalZone(): Zone {
  const zone = installedZone(INTERNAL_ZONE.name);
  if (zone !== undefined) return zone;
  const made = createZone(INTERNAL_ZONE);
  installZones([...installedZones(), made]);
  return made;
}

/**
 * A timer's file name: its name, encoded; a name whose encoding would pass a file name's 255
 * bytes (with ".last.tmp") is kept under the SHA-256 of the name instead.
 */
function fileName(name: string): string {
  const encoded = encodeURIComponent(name);
  return encoded.length <= 200 ? encoded : `sha256-${createHash("sha256").update(name).digest("hex")}`;
}

class HostGate implements TickGate {
  readonly #owner: string;
  readonly #dir: string;
  /** Names whose last run is kept on disk too (they asked for it: catchUp). */
  readonly #kept = new Set<string>();

  constructor(owner: string, prefix: string) {
    this.#owner = owner;
    this.#dir = join(prefix, "timers");
  }

  claim(name: string, due: number, intervalMs: number): boolean {
    // safeAdd: a claim never evicts another one (a claim evicted before its time would let a
    // process that wakes late run the tick again); a full zone fails the claim instead.
    const result = internalZone().dict.safeAdd(
      `singleton:${name}:${due}`,
      this.#owner,
      claimTtl(intervalMs) / 1000,
    );
    if (result.ok) return true;
    if (result.reason === "exists") return false;
    throw new Error(`cannot claim a tick in the shared dictionary ${INTERNAL_ZONE.name}: ${result.reason}`);
  }

  settled(name: string, due: number): void {
    const dict = internalZone().dict;
    const last = dict.get(`last:${name}`);
    if (typeof last === "number" && last >= due) return;
    dict.safeSet(`last:${name}`, due);
    if (!this.#kept.has(name)) return;
    mkdirSync(this.#dir, { recursive: true });
    const file = join(this.#dir, `${fileName(name)}.last`);
    writeFileSync(`${file}.tmp`, `${due}\n`);
    renameSync(`${file}.tmp`, file);
  }

  lastRun(name: string): number | null {
    this.#kept.add(name);
    const inZone = internalZone().dict.get(`last:${name}`);
    let onDisk: number | null = null;
    try {
      onDisk = Number(readFileSync(join(this.#dir, `${fileName(name)}.last`), "utf8").trim()) || null;
    } catch {
      // never ran here, or a fresh prefix
    }
    const candidates = [typeof inZone === "number" ? inZone : null, onDisk].filter(
      (n): n is number => n !== null,
    );
    return candidates.length === 0 ? null : Math.max(...candidates);
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

  constructor(options: RedisGateOptions) {
    this.#options = options;
  }

  #get(): Promise<RedisGate> {
    return (this.#making ??= import("../coord/redis-gate.ts").then(
      ({ RedisGate }) => (this.#gate = new RedisGate(this.#options)),
    ));
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
    return (await this.#get()).claim(name, due, intervalMs);
  }

  settled(name: string, due: number, ok: boolean): void {
    this.#gate?.settled(name, due, ok);
  }

  async lastRun(name: string): Promise<number | null> {
    return (await this.#get()).lastRun(name);
  }
}

export interface Gates extends TimerGates {
  /** The fencing token of the cluster tick `due` (epoch ms) of `name` this process runs, if any. */
  fence(name: string, due: number): number | null;
}

export function createGates(config: ResolvedConfig, identity: Identity, prefix: string, log: LogSink): Gates {
  const owner = `${identity.type} ${identity.workerId ?? "-"} pid ${process.pid}`;
  const coordinator = config.coordinator;
  const cluster =
    coordinator === null
      ? undefined
      : new LazyClusterGate({ url: coordinator.url, keyPrefix: coordinator.keyPrefix, owner, log });
  return {
    host: new HostGate(owner, prefix),
    ...(cluster === undefined ? {} : { cluster }),
    fence: (name, due) => cluster?.made?.fence(name, due) ?? null,
  };
}
