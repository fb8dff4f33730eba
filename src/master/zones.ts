/**
 * The shared-dictionary zones of the tree, owned by the master: it creates every zone before
 * anything of a cycle starts and holds its memfd; each child (the init process included) maps the
 * zones of its cycle by opening the master's descriptors through /proc/<master>/fd (see
 * runtime/zones.ts), before a worker drops its privileges. A zone lives as long as some process
 * maps it or holds it: it survives worker crashes and reloads, and is gone after stop, however the
 * master ends.
 *
 * A reload keeps a zone whose name and size are unchanged (contents and all). A zone whose size
 * changes is created anew, empty, for the new cycle (as nginx does), and the master says so when
 * the cycle is committed; the old workers keep the old zone until they exit. A zone the new config
 * drops goes with the old workers. A reload that fails closes the zones it created, and says
 * nothing of them.
 *
 * A zone the tree no longer uses keeps its descriptor while a live child was given it: a child
 * opens the master's descriptor only when it gets to its spec (a process of the old cycle
 * respawned while a reload stages, a standby that is slow to answer, a new worker of a reload that
 * failed), and a descriptor closed before that opened nothing, or whatever took its number since.
 */
import { closeSync } from "node:fs";
import type { ShdictSpec } from "../config/index.ts";
import type { ZoneRef } from "../ipc/index.ts";
import { addonFile, closeZone, createZone, zoneStats, type Zone } from "../shdict/index.ts";
import type { LogSink } from "../util/log.ts";

export interface ZoneSet {
  readonly zones: readonly Zone[];
  /** The zones made for this set (closed again if it is abandoned). */
  readonly created: readonly Zone[];
}

/** Whether a live child was given `zone` (and may map it later). */
export type ZoneHeld = (zone: Zone) => boolean;

export class Zones {
  #current: readonly Zone[] = [];
  /** Zones out of use that a live child was given: released once none is (`sweep`). */
  #retiring: Zone[] = [];

  /** The zones for `specs`: the current ones where name and size match, new ones otherwise. */
  prepare(specs: readonly ShdictSpec[]): ZoneSet {
    const zones: Zone[] = [];
    const created: Zone[] = [];
    try {
      for (const spec of specs) {
        const kept = this.#current.find((zone) => zone.name === spec.name && zone.size === spec.size);
        if (kept !== undefined) {
          zones.push(kept);
          continue;
        }
        const zone = createZone(spec);
        created.push(zone);
        zones.push(zone);
      }
    } catch (error) {
      for (const zone of created) release(zone);
      throw error;
    }
    return { zones, created };
  }

  /**
   * `set` is now the tree's: zones the current cycle had and `set` has not are released. A zone
   * made anew for a size change is told here, once the cycle is committed (a reload that fails
   * keeps the old zone and says nothing of it).
   */
  commit(set: ZoneSet, log: LogSink, held: ZoneHeld): void {
    for (const zone of set.created) {
      const old = this.#current.find((current) => current.name === zone.name);
      if (old === undefined) continue;
      log(
        "notice",
        `shared dict "${zone.name}" changes size from ${old.size} to ${zone.size} bytes: the new workers get a new, empty zone; the old workers keep the old one until they exit`,
      );
    }
    for (const zone of this.#current) {
      if (set.zones.includes(zone)) continue;
      if (!set.zones.some((next) => next.name === zone.name)) {
        log("notice", `shared dict "${zone.name}" is no longer declared: it goes with the old workers`);
      }
      this.#retiring.push(zone);
    }
    this.#current = set.zones;
    this.sweep(held);
  }

  /** A set that was not used (its reload failed): the zones made for it are released. */
  abandon(set: ZoneSet, held: ZoneHeld): void {
    this.#retiring.push(...set.created);
    this.sweep(held);
  }

  /** Releases the zones out of use that no live child was given (call when a child exits). */
  sweep(held: ZoneHeld): void {
    this.#retiring = this.#retiring.filter((zone) => {
      if (held(zone)) return true;
      release(zone);
      return false;
    });
  }

  get current(): readonly Zone[] {
    return this.#current;
  }

  /** What children are told: each zone and the master's descriptor of it. */
  static refs(zones: readonly Zone[]): ZoneRef[] {
    const addon = addonFile();
    return zones.map((zone) => ({ name: zone.name, size: zone.size, fd: zone.fd, addon }));
  }

  /** Capacity, free space and items of every current zone, for `tsresty status`. */
  stats(): { name: string; capacity: number; freeSpace: number; items: number }[] {
    return this.#current.map((zone) => ({ name: zone.name, ...zoneStats(zone) }));
  }
}

function release(zone: Zone): void {
  closeZone(zone);
  closeSync(zone.fd);
}
