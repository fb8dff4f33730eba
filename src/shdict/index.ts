/**
 * Shared dictionaries: zones of memory shared by every process of the host (see
 * docs/shdict.md and native/README.md). The role code creates or attaches zones and installs
 * them; user code reaches them as `ngx.shared.NAME` and `ngx.lock(NAME)`.
 */
export { replaceIfHolds, SharedDict } from "./dict.ts";
export type {
  ExpireResult,
  GetResult,
  IncrResult,
  LengthResult,
  PopResult,
  PushResult,
  StaleResult,
  TtlResult,
} from "./dict.ts";
export type { Reason, StoreResult } from "./outcomes.ts";
export type { Key, ShdictValue } from "./validate.ts";
export { MAX_TTL_SECONDS } from "./validate.ts";
export {
  attachZone,
  closeZone,
  createZone,
  INTERNAL_ZONE,
  zoneHealth,
  zoneStats,
  type Zone,
  type ZoneSpec,
  type ZoneStats,
} from "./zone.ts";
export { installedZone, installZones, installedZones, sharedDicts, type SharedDicts } from "./installed.ts";
export { createLock, Lock, type LockOptions, type LockResult, type UnlockResult } from "./lock.ts";
export { addonFile, systemCalls, useAddonFile, type SystemCalls } from "./native.ts";
