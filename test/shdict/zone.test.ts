import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, readdirSync, readlinkSync } from "node:fs";
import { describe, it } from "node:test";
import {
  attachZone,
  closeZone,
  createZone,
  installedZones,
  installZones,
  zoneStats,
} from "../../src/shdict/index.ts";
import { ngx } from "../../src/runtime/ngx.ts";
import { testZone } from "./zones.ts";

describe("zones", () => {
  it("a process that makes no zone never loads the addon (so ngx works where the addon cannot)", () => {
    const code = `await import(${JSON.stringify(new URL("../../src/index.ts", import.meta.url).href)});
      const { readFileSync } = await import("node:fs");
      console.log(readFileSync("/proc/self/maps", "utf8").includes("tsresty_shdict") ? "loaded" : "not loaded");`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(out.trim(), "not loaded");
  });

  it("a zone is a memfd: nothing appears in /dev/shm", () => {
    const before = readdirSync("/dev/shm").sort();
    const zone = testZone(64 * 1024, "memfd_check");
    assert.match(readlinkSync(`/proc/self/fd/${zone.fd}`), /^\/memfd:tsresty-shdict:memfd_check/);
    assert.deepEqual(readdirSync("/dev/shm").sort(), before);
  });

  it("attach checks the header: another name, another size or a descriptor that is no zone throws", () => {
    const zone = testZone(64 * 1024, "dogs");
    assert.throws(() => attachZone({ name: "cats", size: 64 * 1024 }, zone.fd), {
      code: "ERR_TSRESTY_SHDICT",
      message: /another name/,
    });
    assert.throws(() => attachZone({ name: "dogs", size: 128 * 1024 }, zone.fd), {
      code: "ERR_TSRESTY_SHDICT",
      message: /size/,
    });
    assert.throws(() => attachZone({ name: "dogs", size: 64 * 1024 }, 0), { code: "ERR_TSRESTY_SHDICT" });
    const again = attachZone({ name: "dogs", size: 64 * 1024 }, zone.fd);
    zone.dict.set("k", "shared");
    assert.equal(again.dict.get("k"), "shared");
    closeZone(again);
  });

  it("bad sizes and names are refused when creating", () => {
    assert.throws(() => createZone({ name: "tiny", size: 4096 }), { code: "ERR_TSRESTY_SHDICT" });
    assert.throws(() => createZone({ name: "n".repeat(64), size: 64 * 1024 }), {
      code: "ERR_TSRESTY_SHDICT",
    });
  });

  it("a closed zone throws on use", () => {
    const zone = createZone({ name: "closing", size: 64 * 1024 });
    closeZone(zone);
    closeSync(zone.fd);
    assert.throws(() => zone.dict.get("k"), { code: "ERR_TSRESTY_SHDICT", message: /closed/ });
  });

  it("installed zones are ngx.shared.NAME; an unknown name is undefined; zoneStats counts items", () => {
    const dogs = testZone(64 * 1024, "dogs");
    const cats = testZone(32 * 1024, "cats");
    installZones([dogs, cats]);
    assert.deepEqual(
      installedZones().map((z) => z.name),
      ["dogs", "cats"],
    );
    assert.equal(ngx.shared["dogs"], dogs.dict);
    assert.equal(ngx.shared["cats"]?.name, "cats");
    assert.equal(ngx.shared["birds"], undefined);
    assert.ok(Object.isFrozen(ngx.shared));
    ngx.shared["dogs"].set("a", 1);
    ngx.shared["dogs"].set("b", 2);
    const stats = zoneStats(dogs);
    assert.equal(stats.capacity, 64 * 1024);
    assert.equal(stats.items, 2);
    assert.equal(stats.freeSpace, dogs.dict.freeSpace());
    installZones([]);
    assert.equal(ngx.shared["dogs"], undefined);
  });
});
