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
    assert.throws(() => createZone({ name: "tiny", size: 4096 }), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    assert.throws(() => createZone({ name: "n".repeat(64), size: 64 * 1024 }), {
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
    });
  });

  it("a size, name or descriptor that the addon would truncate or wrap is refused, naming it, rather than made another one", () => {
    const zone = testZone(16 * 1024, "exact");
    // 8192.5 made a zone of 8192 bytes whose capacity() said 8192.5.
    for (const size of [8192.5, NaN, -1, 2 ** 31 + 1, 2 ** 64 + 8192]) {
      assert.throws(() => createZone({ name: "odd", size }), {
        code: "ERR_TSRESTY_INVALID_ARG_VALUE",
        message: /^createZone: "size" must be an integer from 8192 to 2147483648/,
      });
    }
    assert.throws(() => createZone({ name: "odd", size: "1m" as never }), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^createZone: "size"/,
    });
    // "a\0b" was cut at the NUL in the zone's header: "a\0c" then attached to it.
    for (const name of ["", "a\0b", "a b", "1abc", "é"]) {
      assert.throws(() => createZone({ name, size: 16 * 1024 }), {
        code: "ERR_TSRESTY_INVALID_ARG_VALUE",
        message: /^createZone: "name" must be a letter or _, then letters, digits and _/,
      });
      assert.throws(() => attachZone({ name, size: 16 * 1024 }, zone.fd), {
        code: "ERR_TSRESTY_INVALID_ARG_VALUE",
        message: /^attachZone: "name"/,
      });
    }
    assert.throws(() => createZone({ name: 5 as never, size: 16 * 1024 }), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
    });
    assert.throws(() => attachZone({ name: "exact", size: 16 * 1024 + 0.5 }, zone.fd), {
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
      message: /^attachZone: "size"/,
    });
    // fd + 2^32 was read as fd: the zone attached, and its fd said 4294967296 more.
    for (const fd of [zone.fd + 2 ** 32, zone.fd + 0.5, -1, NaN, 2 ** 31]) {
      assert.throws(() => attachZone({ name: "exact", size: 16 * 1024 }, fd), {
        code: "ERR_TSRESTY_INVALID_ARG_VALUE",
        message: /^attachZone: "fd" must be a file descriptor \(an integer from 0 to 2147483647\)/,
      });
    }
    assert.throws(() => attachZone({ name: "exact", size: 16 * 1024 }, String(zone.fd) as never), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^attachZone: "fd"/,
    });
    const again = attachZone({ name: "exact", size: 16 * 1024 }, zone.fd);
    assert.equal(again.dict.capacity(), 16 * 1024);
    closeZone(again);
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
    // Each dictionary too: one caller could rename it or replace its methods for every other.
    const shared = ngx.shared["dogs"];
    assert.throws(() => Object.assign(shared, { name: "cats" }), TypeError);
    assert.throws(() => Object.assign(shared, { get: () => 42 }), TypeError);
    assert.equal(shared.name, "dogs");
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
