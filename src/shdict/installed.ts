import type { SharedDict } from "./dict.ts";
import type { Zone } from "./zone.ts";

/**
 * `ngx.shared`: the installed zones' dictionaries by name; an unknown name is undefined.
 * @example
 * const dogs = ngx.shared["dogs"];
 * if (dogs === undefined) throw new Error("declare shdict: { dogs: \"10m\" } in the config");
 */
export interface SharedDicts {
  readonly [name: string]: SharedDict | undefined;
}

interface Installed {
  zones: readonly Zone[];
  shared: SharedDicts;
}

/** Kept on globalThis so that a second copy of tsresty in node_modules sees the same zones. */
const KEY = Symbol.for("tsresty.shdict.installed");
const store = globalThis as unknown as Record<symbol, Installed | undefined>;

function installed(): Installed {
  return (store[KEY] ??= {
    zones: Object.freeze([]),
    shared: Object.freeze(Object.create(null) as SharedDicts),
  });
}

/**
 * Makes `zones` what `ngx.shared.NAME` and `ngx.lock(NAME)` resolve to in this process.
 * @example
 * installZones([createZone({ name: "dogs", size: 1 << 20 })]);
 * ngx.shared["dogs"]?.set("a", 1);
 */
export function installZones(zones: readonly Zone[]): void {
  const shared = Object.create(null) as Record<string, SharedDict>;
  // tsresty's own zones (`__…`) are not the app's: ngx.shared does not show them.
  for (const zone of zones) if (!zone.name.startsWith("__")) shared[zone.name] = zone.dict;
  store[KEY] = { zones: Object.freeze([...zones]), shared: Object.freeze(shared) };
}

/**
 * The zones installed in this process, in declaration order.
 * @example
 * for (const zone of installedZones()) console.log(zone.name, zoneStats(zone));
 */
export function installedZones(): readonly Zone[] {
  return installed().zones;
}

/**
 * The frozen object behind `ngx.shared`.
 * @example
 * sharedDicts()["dogs"]?.get("Jim");
 */
export function sharedDicts(): SharedDicts {
  return installed().shared;
}

/**
 * An installed zone by name, tsresty's own included (`internalZone("__tsresty")`).
 * @example
 * const claims = installedZone("__tsresty");
 */
export function installedZone(name: string): Zone | undefined {
  return installed().zones.find((zone) => zone.name === name);
}
