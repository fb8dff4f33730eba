import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sleep, testZone } from "./zones.ts";

const NOT_A_LIST = { ok: false, reason: "value not a list" };

describe("lists (T-SHD-14…16)", () => {
  it("T-SHD-14: lpush, llen, lpop, and an emptied list is gone", () => {
    const dogs = testZone().dict;
    assert.deepEqual(dogs.lpush("foo", "bar"), { ok: true, length: 1 });
    assert.deepEqual(dogs.llen("foo"), { ok: true, length: 1 });
    assert.deepEqual(dogs.lpop("foo"), { ok: true, value: "bar" });
    assert.deepEqual(dogs.llen("foo"), { ok: true, length: 0 });
    assert.deepEqual(dogs.lpop("foo"), { ok: true, value: undefined });
    assert.deepEqual(dogs.getKeys(0), []);
  });

  it("T-SHD-15: scalar operations on a list key, and list operations on a scalar key", () => {
    const dogs = testZone().dict;
    dogs.lpush("l", "a");
    assert.equal(dogs.get("l"), undefined);
    assert.deepEqual(dogs.getWithFlags("l"), { value: undefined, flags: 0, reason: "value is a list" });
    assert.deepEqual(dogs.getKeys(0), ["l"]);
    assert.deepEqual(dogs.add("l", 1), { ok: false, reason: "exists", forcible: false });
    assert.deepEqual(dogs.incr("l", 1), { ok: false, reason: "not a number", forcible: false });
    assert.deepEqual(dogs.set("l", "scalar"), { ok: true, forcible: false });
    assert.equal(dogs.get("l"), "scalar");
    dogs.delete("l");
    dogs.lpush("l", "a");
    assert.deepEqual(dogs.replace("l", 2), { ok: true, forcible: false });
    dogs.delete("l");
    dogs.lpush("l", "a");
    assert.deepEqual(dogs.delete("l"), { ok: true, forcible: false });
    assert.deepEqual(dogs.llen("l"), { ok: true, length: 0 });
    dogs.set("s", 1);
    assert.deepEqual(dogs.lpush("s", "x"), NOT_A_LIST);
    assert.deepEqual(dogs.rpush("s", "x"), NOT_A_LIST);
    assert.deepEqual(dogs.lpop("s"), NOT_A_LIST);
    assert.deepEqual(dogs.rpop("s"), NOT_A_LIST);
    assert.deepEqual(dogs.llen("s"), NOT_A_LIST);
  });

  it("T-SHD-16: push and pop orders, numbers stay numbers, bad values throw, an expired list restarts, pushes never evict", async () => {
    const dogs = testZone().dict;
    for (const v of [1, 2, 3]) dogs.lpush("a", v);
    assert.deepEqual(
      [1, 2, 3].map(() => dogs.lpop("a")),
      [3, 2, 1].map((value) => ({ ok: true, value })),
    );
    for (const v of [1, 2, 3]) dogs.lpush("b", v);
    assert.deepEqual(
      [1, 2, 3].map(() => dogs.rpop("b")),
      [1, 2, 3].map((value) => ({ ok: true, value })),
    );
    for (const v of [1, 2, 3]) dogs.rpush("c", v);
    assert.deepEqual(
      [1, 2, 3].map(() => dogs.lpop("c")),
      [1, 2, 3].map((value) => ({ ok: true, value })),
    );
    const call = dogs as unknown as Record<string, (...args: unknown[]) => unknown>;
    assert.throws(() => call["rpush"]!.call(dogs, "c", true), { code: "ERR_TSRESTY_INVALID_ARG_TYPE" });
    dogs.set("persistent", 1);
    dogs.lpush("e", "old");
    dogs.lpush("e", "old");
    dogs.expire("e", 0.01);
    await sleep(30);
    assert.deepEqual(dogs.lpush("e", "new"), { ok: true, length: 1 });

    const small = testZone(16 * 1024).dict;
    small.set("keep", "me");
    let pushes = 0;
    for (; pushes < 10_000; pushes++) if (!small.lpush("foo", "bar").ok) break;
    assert.ok(pushes > 10 && pushes < 10_000, `${pushes} pushes fill a 16k zone`);
    assert.deepEqual(small.lpush("foo", "bar"), { ok: false, reason: "no memory" });
    assert.equal(small.get("keep"), "me");
    assert.deepEqual(small.llen("foo"), { ok: true, length: pushes });
  });
});
