/**
 * A child maps its cycle's shared-dictionary zones from the master (see master/zones.ts): each
 * zone's memfd is opened again through /proc/<master>/fd/<fd> — the same file, which Linux lets a
 * process of the same user open — and mapped. Workers do this before they drop privileges.
 */
import { closeSync, openSync } from "node:fs";
import type { ZoneRef } from "../ipc/index.ts";
import { attachZone, installZones, useAddonFile, type Zone } from "../shdict/index.ts";

export function attachMasterZones(refs: readonly ZoneRef[], masterPid: number): void {
  if (refs.length === 0) return;
  const zones: Zone[] = [];
  for (const ref of refs) {
    useAddonFile(ref.addon);
    const path = `/proc/${masterPid}/fd/${ref.fd}`;
    let fd: number;
    try {
      fd = openSync(path, "r+");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new Error(`cannot map shared dict "${ref.name}" from the master (${path}: ${code})`, {
        cause: error,
      });
    }
    try {
      zones.push(attachZone({ name: ref.name, size: ref.size }, fd));
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }
  installZones(zones);
}
