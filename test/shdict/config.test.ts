import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseShdictFlags, parseSize, parseZoneName, resolveConfig } from "../../src/config/index.ts";

describe("config shdict", () => {
  it("resolves zones in declaration order with sizes in bytes, frozen; none by default", () => {
    const config = resolveConfig({ shdict: { dogs: "10m", cats: 16384, Big_1: "1G", k: "12K" } });
    assert.deepEqual(config.shdict, [
      { name: "dogs", size: 10 * 1024 * 1024 },
      { name: "cats", size: 16384 },
      { name: "Big_1", size: 1024 ** 3 },
      { name: "k", size: 12 * 1024 },
    ]);
    assert.ok(Object.isFrozen(config.shdict) && Object.isFrozen(config.shdict[0]));
    assert.deepEqual(resolveConfig({}).shdict, []);
  });

  it("refuses sizes below 8k or above 2g, bad suffixes and bad names, naming the key", () => {
    const cases: [unknown, RegExp][] = [
      [{ dogs: "7k" }, /shdict\.dogs must be a size from 8k to 2g/],
      [{ dogs: "3g" }, /shdict\.dogs/],
      [{ dogs: "10x" }, /shdict\.dogs/],
      [{ dogs: 8191.5 }, /shdict\.dogs/],
      [{ dogs: "1.5m" }, /shdict\.dogs/],
      [{ "1dogs": "1m" }, /shdict names must be letters, digits and _/],
      [{ "a-b": "1m" }, /shdict names must be letters/],
      [["dogs"], /shdict must be an object/],
    ];
    for (const [shdict, message] of cases) {
      assert.throws(
        () => resolveConfig({ shdict }),
        { code: "ERR_TSRESTY_CONFIG", message },
        JSON.stringify(shdict),
      );
    }
  });

  it("--shdict flags: a bad name is named as such, not as a bad 'NAME SIZE' form; a name given twice is refused", () => {
    assert.deepEqual(parseShdictFlags(["dogs 10m", " cats   8k "]), {
      ok: true,
      value: { dogs: 10 * 1024 * 1024, cats: 8192 },
    });
    const problem = (flag: string): string => {
      const parsed = parseShdictFlags([flag]);
      if (parsed.ok) assert.fail(`${flag} was accepted`);
      return parsed.problem;
    };
    assert.match(problem("dögs 1m"), /^names must be letters, digits and _.*received a string \("dögs"\)$/);
    assert.match(problem("__x 1m"), /^names starting with __ are tsresty's own/);
    assert.match(problem(`${"a".repeat(64)} 1m`), /63 characters at most/);
    assert.match(problem("dogs:1m"), /^must be 'NAME SIZE'/);
    assert.match(problem("dogs"), /^must be 'NAME SIZE'/);
    assert.match(problem("dogs 1m extra"), /^must be 'NAME SIZE'/);
    assert.match(problem("dogs 1x"), /^dogs: size must be a size from 8k to 2g/);
    const twice = parseShdictFlags(["dogs 1m", "dogs 2m"]);
    assert.ok(!twice.ok && /names "dogs" twice/.test(twice.problem));
  });

  it("parseSize reads bytes and k/m/g suffixes in any case; parseZoneName wants an identifier", () => {
    assert.deepEqual(parseSize("12k"), { ok: true, value: 12288 });
    assert.deepEqual(parseSize("1M"), { ok: true, value: 1048576 });
    assert.deepEqual(parseSize("2g"), { ok: true, value: 2 * 1024 ** 3 });
    assert.deepEqual(parseSize("8192"), { ok: true, value: 8192 });
    assert.deepEqual(parseSize(8192), { ok: true, value: 8192 });
    assert.equal(parseSize(8191).ok, false);
    assert.equal(parseSize("2049m").ok, false);
    assert.equal(parseSize("").ok, false);
    assert.equal(parseZoneName("_ok9").ok, true);
    assert.equal(parseZoneName("x".repeat(64)).ok, false);
  });
});
