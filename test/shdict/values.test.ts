import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { replaceIfHolds, zoneHealth } from "../../src/shdict/index.ts";
import { testZone } from "./zones.ts";

/** A resizable ArrayBuffer (ES2024, in Node 20; the project's types stop before it). */
const ResizableBuffer = ArrayBuffer as unknown as new (
  length: number,
  options: { maxByteLength: number },
) => ArrayBuffer & { resize(length: number): void };

describe("values, keys and their limits", () => {
  it("binary values round-trip as Uint8Array (a Buffer too), with empty strings and arrays, unicode and odd numbers", () => {
    const dogs = testZone().dict;
    dogs.set("bin", new Uint8Array([0, 1, 255]));
    assert.deepEqual(dogs.get("bin"), new Uint8Array([0, 1, 255]));
    dogs.set("buf", Buffer.from("héllo"));
    assert.deepEqual(dogs.get("buf"), new Uint8Array(Buffer.from("héllo")));
    dogs.set("empty", "");
    assert.equal(dogs.get("empty"), "");
    dogs.set("none", new Uint8Array(0));
    assert.deepEqual(dogs.get("none"), new Uint8Array(0));
    for (const text of ["héllo wörld", "日本語", "emoji 😀", "\u0000nul"]) {
      dogs.set(text, text);
      assert.equal(dogs.get(text), text);
    }
    for (const n of [-0, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, 2 ** -1074]) {
      dogs.set("n", n);
      assert.ok(Object.is(dogs.get("n"), n), String(n));
    }
    dogs.set("t", true);
    assert.equal(dogs.get("t"), true);
  });

  it("flags are 32-bit unsigned; bad flags, ttls, counts and value types throw coded errors", () => {
    const dogs = testZone().dict;
    dogs.set("f", 1, 0, 0xffffffff);
    assert.deepEqual(dogs.getWithFlags("f"), { value: 1, flags: 0xffffffff });
    const call = dogs as unknown as Record<string, (...args: unknown[]) => unknown>;
    const cases: [string, unknown[], string][] = [
      ["set", ["k", 1, 0, -1], "ERR_TSRESTY_INVALID_ARG_VALUE"],
      ["set", ["k", 1, 0, 2 ** 32], "ERR_TSRESTY_INVALID_ARG_VALUE"],
      ["set", ["k", 1, 0, 1.5], "ERR_TSRESTY_INVALID_ARG_VALUE"],
      ["set", ["k", 1, 0, "7"], "ERR_TSRESTY_INVALID_ARG_TYPE"],
      ["set", ["k", 1, NaN], "ERR_TSRESTY_INVALID_ARG_VALUE"],
      ["set", ["k", 1, Infinity], "ERR_TSRESTY_INVALID_ARG_VALUE"],
      ["set", ["k", 1, "one"], "ERR_TSRESTY_INVALID_ARG_TYPE"],
      ["set", ["k", 10n], "ERR_TSRESTY_INVALID_ARG_TYPE"],
      ["set", ["k", [1]], "ERR_TSRESTY_INVALID_ARG_TYPE"],
      ["set", ["k", new Uint16Array(2)], "ERR_TSRESTY_INVALID_ARG_TYPE"],
      ["set", [{}, 1], "ERR_TSRESTY_INVALID_ARG_TYPE"],
      ["lpush", ["l", new Uint8Array(1)], "ERR_TSRESTY_INVALID_ARG_TYPE"],
      ["getKeys", [-1], "ERR_TSRESTY_INVALID_ARG_VALUE"],
      ["flushExpired", ["3"], "ERR_TSRESTY_INVALID_ARG_TYPE"],
    ];
    for (const [method, args, code] of cases) {
      assert.throws(
        () => call[method]!.apply(dogs, args),
        { code },
        `${method}(${args.map(String).join(", ")})`,
      );
    }
  });

  it("a ttl above 10^9 s throws in every method that takes one, rather than wrap around to expired or never", () => {
    const dogs = testZone().dict;
    dogs.set("live", 1);
    dogs.lpush("list", 1);
    // 1.8446744073708e16 s wrapped the 64-bit expiry to a moment already past: set said ok and
    // get found nothing; larger ttls wrapped to "never", smaller ones gave a negative ttl().
    for (const ttl of [1e9 + 1, 9.3e15, 1.8446744073708e16, 1e300]) {
      for (const call of [
        () => dogs.set("k", 1, ttl),
        () => dogs.safeSet("k", 1, ttl),
        () => dogs.add("k", 1, ttl),
        () => dogs.safeAdd("k", 1, ttl),
        () => dogs.replace("live", 1, ttl),
        () => dogs.incr("n", 1, 0, ttl),
        () => dogs.expire("live", ttl),
        () => dogs.expire("list", ttl),
      ]) {
        assert.throws(
          call,
          { code: "ERR_TSRESTY_INVALID_ARG_VALUE", message: /from 0 to 1000000000/ },
          String(ttl),
        );
      }
    }
    assert.equal(dogs.get("k"), undefined);
    assert.deepEqual(dogs.ttl("live"), { ok: true, ttl: 0 });
    assert.deepEqual(dogs.set("k", 1, 1e9), { ok: true, forcible: false });
    const left = dogs.ttl("k");
    assert.ok(left.ok && left.ttl > 1e9 - 1 && left.ttl <= 1e9, JSON.stringify(left));
    assert.equal(dogs.get("k"), 1);
  });

  it("a key or string value with a lone surrogate throws (UTF-8 cannot hold it: two keys would be one)", () => {
    const dogs = testZone().dict;
    dogs.set("\ufffd", "replacement character");
    for (const bad of ["\ud800", "\udfff", "a\ud83d", "\ude00b"]) {
      assert.throws(() => dogs.set(bad, 1), {
        code: "ERR_TSRESTY_INVALID_ARG_VALUE",
        message: /lone surrogate/,
      });
      assert.throws(() => dogs.get(bad), { code: "ERR_TSRESTY_INVALID_ARG_VALUE", message: /"key"/ });
      assert.throws(() => dogs.set("v", bad), { code: "ERR_TSRESTY_INVALID_ARG_VALUE", message: /"value"/ });
      assert.throws(() => dogs.rpush("l", bad), {
        code: "ERR_TSRESTY_INVALID_ARG_VALUE",
        message: /"value"/,
      });
    }
    assert.deepEqual(dogs.getKeys(0), ["\ufffd"]);
    assert.equal(dogs.get("\ufffd"), "replacement character");
    const pair = "a\ud83d\ude00";
    dogs.set(pair, pair);
    assert.equal(dogs.get(pair), pair);
  });

  it("a method called without its dictionary throws a coded error naming the method, not V8's", () => {
    const dogs = testZone().dict;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- detached on purpose: the misuse under test
    const { get, set, incr, capacity } = dogs;
    assert.throws(() => get("k"), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^get: "this" must be a shared dictionary/,
    });
    assert.throws(() => set("k", 1), { code: "ERR_TSRESTY_INVALID_ARG_TYPE", message: /^set: "this"/ });
    assert.throws(() => incr.call({}, "k", 1), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^incr: "this"/,
    });
    assert.throws(() => capacity.call(5), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: /^capacity: "this"/,
    });
    assert.equal(get.call(dogs, "k"), undefined);
  });

  it("a dictionary made with its class (dogs.constructor) on anything but a zone throws a coded error at once, not V8's at its first call, nor on an object that only has a zone's methods (its set said ok and stored nothing)", () => {
    const Made = testZone().dict.constructor as new (name: unknown, size: unknown, zone: unknown) => unknown;
    const method = (): number => 0;
    const lookalike = Object.fromEntries(
      ["get", "getStale", "store", "incr", "push", "pop", "llen", "ttl", "expire"].map((name) => [
        name,
        method,
      ]),
    );
    for (const zone of [undefined, null, {}, "dogs", testZone().dict, lookalike]) {
      assert.throws(() => new Made("cats", 1 << 20, zone), {
        code: "ERR_TSRESTY_INVALID_ARG_TYPE",
        message: /^SharedDict: "zone" must be a zone of the addon/,
      });
    }
  });

  it("an object that only looks like a Uint8Array (a Proxy of one, a forged prototype) throws a coded error naming the value; real views of any offset and buffer round-trip", () => {
    const zone = testZone();
    const dogs = zone.dict;
    const forged = Object.setPrototypeOf({}, Uint8Array.prototype) as Uint8Array;
    for (const fake of [new Proxy(new Uint8Array(2), {}), forged]) {
      assert.throws(() => dogs.set("fake", fake), {
        code: "ERR_TSRESTY_INVALID_ARG_TYPE",
        message: /^set: "value" must be a string, number, boolean, Uint8Array/,
      });
      assert.throws(() => dogs.add("fake", fake), {
        code: "ERR_TSRESTY_INVALID_ARG_TYPE",
        message: /^add: "value"/,
      });
    }
    assert.equal(dogs.get("fake"), undefined);
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i);
    dogs.set("view", bytes.subarray(4, 8));
    assert.deepEqual(dogs.get("view"), new Uint8Array([4, 5, 6, 7]));
    const shared = new Uint8Array(new SharedArrayBuffer(3));
    shared[1] = 9;
    dogs.set("shared", shared);
    assert.deepEqual(dogs.get("shared"), new Uint8Array([0, 9, 0]));
    class Bytes extends Uint8Array {
      override get length(): number {
        return 1000;
      }
    }
    dogs.set("subclass", new Bytes(2));
    assert.deepEqual(dogs.get("subclass"), new Uint8Array(2));
    assert.deepEqual(zoneHealth(zone).problems, []);
  });

  it("a Uint8Array whose buffer was transferred away or shrunk below it throws a coded TypeError in every store and stores nothing (it was stored as an empty value, the bytes gone without a word)", () => {
    const zone = testZone();
    const dogs = zone.dict;
    const transferred = (view: Uint8Array): Uint8Array => {
      structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
      return view;
    };
    const posted = (view: Uint8Array): Uint8Array => {
      const { port1, port2 } = new MessageChannel();
      port1.postMessage(view, [view.buffer as ArrayBuffer]);
      port1.close();
      port2.close();
      return view;
    };
    const shrunk = (): Uint8Array => {
      const buffer = new ResizableBuffer(8, { maxByteLength: 16 });
      const view = new Uint8Array(buffer, 4, 4).fill(7);
      buffer.resize(2);
      return view;
    };
    const gone = (): Uint8Array[] => [
      transferred(new Uint8Array([1, 2, 3])),
      transferred(Uint8Array.from({ length: 16 }, (_, i) => i).subarray(4, 8)),
      transferred(Buffer.alloc(5, "bytes")),
      posted(new Uint8Array([4, 5])),
      shrunk(),
    ];
    assert.equal(gone().length, 5);
    dogs.set("old", "kept");
    const stores: [string, (value: Uint8Array) => unknown][] = [
      ["set", (value) => dogs.set("new", value)],
      ["safeSet", (value) => dogs.safeSet("new", value)],
      ["add", (value) => dogs.add("new", value)],
      ["safeAdd", (value) => dogs.safeAdd("new", value)],
      ["replace", (value) => dogs.replace("old", value)],
    ];
    for (const [method, store] of stores) {
      for (const [i, value] of gone().entries()) {
        assert.equal(value.byteLength, 0, `${method}, view ${i}: reads as empty`);
        assert.throws(
          () => store(value),
          (error: Error & { code?: string }) =>
            error instanceof TypeError &&
            error.code === "ERR_TSRESTY_INVALID_ARG_TYPE" &&
            error.message ===
              `${method}: "value" must be a Uint8Array whose buffer holds its bytes, received an object (${
                i === 2 ? "Buffer" : "Uint8Array"
              }) whose buffer was detached (transferred) or shrunk below it`,
          `${method}, view ${i}`,
        );
      }
    }
    assert.equal(dogs.get("new"), undefined);
    assert.equal(dogs.get("old"), "kept");
    assert.deepEqual(dogs.getKeys(0), ["old"]);
    // An empty view of a buffer that is there, and a view that fits a shrunk buffer, are values.
    dogs.set("empty", new Uint8Array(new ArrayBuffer(4), 4, 0));
    assert.deepEqual(dogs.get("empty"), new Uint8Array(0));
    const buffer = new ResizableBuffer(8, { maxByteLength: 16 });
    const fits = new Uint8Array(buffer, 0, 2).fill(3);
    buffer.resize(4);
    dogs.set("fits", fits);
    assert.deepEqual(dogs.get("fits"), new Uint8Array([3, 3]));
    assert.deepEqual(zoneHealth(zone).problems, []);
  });

  it("every method that takes a ttl reads it alike: a numeric string as Lua's tonumber (set, add, replace and expire threw for \"5\" while incr's initTtl took it), anything else named by the same error", () => {
    const zone = testZone();
    const dogs = zone.dict;
    const writes: [string, (ttl: unknown) => unknown, string][] = [
      ["set", (ttl) => dogs.set("k", 1, ttl as number), "k"],
      ["safeSet", (ttl) => dogs.safeSet("k", 1, ttl as number), "k"],
      ["add", (ttl) => (dogs.delete("k"), dogs.add("k", 1, ttl as number)), "k"],
      ["safeAdd", (ttl) => (dogs.delete("k"), dogs.safeAdd("k", "s", ttl as number)), "k"],
      ["replace", (ttl) => (dogs.set("k", 1), dogs.replace("k", 2, ttl as number)), "k"],
      ["expire", (ttl) => (dogs.set("k", 1), dogs.expire("k", ttl as number)), "k"],
      ["incr", (ttl) => (dogs.delete("n"), dogs.incr("n", 1, 0, ttl as number)), "n"],
    ];
    const name = (method: string): string => (method === "incr" ? "initTtl" : "ttl");
    for (const [method, write, key] of writes) {
      for (const [given, seconds] of [
        ["5", 5],
        [" 2.5 ", 2.5],
        ["0x10", 16],
        ["1e3", 1000],
        ["0", 0],
        [7, 7],
      ] as const) {
        const done = write(given) as { ok: boolean };
        assert.equal(done.ok, true, `${method}(${JSON.stringify(given)})`);
        const left = dogs.ttl(key);
        assert.ok(
          left.ok && left.ttl <= seconds && left.ttl > seconds - 1,
          `${method}(${JSON.stringify(given)}): ${JSON.stringify(left)}`,
        );
      }
      const refused = [
        ...["abc", "", "0b11", "Infinity", "NaN", null, true, 5n, {}].map(
          (given) =>
            [given, "ERR_TSRESTY_INVALID_ARG_TYPE", "a number of seconds, or a numeric string"] as const,
        ),
        ...[-1, "-1", " -0.5", NaN, Infinity, -Infinity, "1e400", 1e9 + 1, "1000000001"].map(
          (given) =>
            [given, "ERR_TSRESTY_INVALID_ARG_VALUE", "a number of seconds from 0 to 1000000000"] as const,
        ),
      ];
      for (const [given, code, expected] of refused) {
        assert.throws(
          () => write(given),
          (error: Error & { code?: string }) =>
            error.name === (code === "ERR_TSRESTY_INVALID_ARG_TYPE" ? "TypeError" : "RangeError") &&
            error.code === code &&
            error.message.startsWith(`${method}: "${name(method)}" must be ${expected}, received `),
          `${method}(${typeof given === "bigint" ? "5n" : JSON.stringify(given)})`,
        );
      }
    }
    assert.throws(() => dogs.expire("k", undefined as never), {
      code: "ERR_TSRESTY_INVALID_ARG_TYPE",
      message: 'expire: "ttl" must be a number of seconds, or a numeric string, received undefined',
    });
    assert.deepEqual(zoneHealth(zone).problems, []);
  });

  it("a ttl below a millisecond is one millisecond, not never", () => {
    const dogs = testZone().dict;
    // 0 would mean "never expires"; by now the millisecond may have passed (a negative ttl),
    // or be passing: an item expiring in this very millisecond reports -0.001. Many rounds, so
    // that one of them lands on that millisecond.
    for (let round = 0; round < 5000; round++) {
      dogs.set("k", 1, 0.0001);
      const left = dogs.ttl("k");
      assert.ok(left.ok && left.ttl !== 0 && left.ttl <= 0.001, `round ${round}: ${JSON.stringify(left)}`);
    }
  });

  it("a ttl is truncated to the millisecond, as OpenResty's and as timer delays are (it was rounded: 0.0019 s was 2 ms)", () => {
    const dogs = testZone().dict;
    // The most ttl() reports over a few rounds: the ttl itself, unless a millisecond passed in
    // every round between the set and the ttl.
    const kept = (seconds: number): number => {
      let most = -Infinity;
      for (let round = 0; round < 20; round++) {
        dogs.set("t", 1, seconds);
        const left = dogs.ttl("t");
        if (left.ok) most = Math.max(most, left.ttl);
      }
      return most;
    };
    assert.equal(kept(0.0019), 0.001);
    assert.equal(kept(100.0009), 100);
    // Rounded to the microsecond first: 2.01 × 1000 is 2009.9999999999998 in floating point.
    assert.equal(kept(2.01), 2.01);
  });

  it("a key of 65,535 bytes works and one of 65,536 throws, in ASCII and in multi-byte text", () => {
    const dogs = testZone(4 * 1024 * 1024).dict;
    const longest = "k".repeat(65535);
    assert.deepEqual(dogs.set(longest, "v"), { ok: true, forcible: false });
    assert.equal(dogs.get(longest), "v");
    assert.deepEqual(dogs.getKeys(0), [longest]);
    assert.throws(() => dogs.set(`${longest}k`, "v"), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
    const wide = "é".repeat(32767) + "k"; // 65,535 bytes
    dogs.set(wide, "wide");
    assert.equal(dogs.get(wide), "wide");
    assert.throws(() => dogs.get("é".repeat(32768)), { code: "ERR_TSRESTY_INVALID_ARG_VALUE" });
  });

  it("the conditional store behind ngx.lock and run-once claims checks its key as the public methods do (the addon took it unchecked: a lone surrogate deleted another key, a number or an empty key threw the addon's uncoded error)", () => {
    const dogs = testZone().dict;
    const storeIfHolds = (dogs as unknown as Record<symbol, (...args: unknown[]) => unknown>)[
      Symbol.for("tsresty.shdict.storeIfHolds")
    ]!;
    dogs.set("a\ufffd", 7);
    assert.throws(() => storeIfHolds.call(dogs, "probe", "a\ud800", 7, undefined), {
      code: "ERR_TSRESTY_INVALID_ARG_VALUE",
      message: /^probe: .*"key".*lone surrogate/,
    });
    assert.equal(dogs.get("a\ufffd"), 7, "the key the lone surrogate would become is left alone");
    for (const [bad, code] of [
      ["", "ERR_TSRESTY_INVALID_ARG_VALUE"],
      ["k".repeat(65536), "ERR_TSRESTY_INVALID_ARG_VALUE"],
      [{}, "ERR_TSRESTY_INVALID_ARG_TYPE"],
      [null, "ERR_TSRESTY_INVALID_ARG_TYPE"],
    ] as const) {
      assert.throws(() => replaceIfHolds("claim", dogs, bad as string, 1, 2, 0), {
        code,
        message: /^claim: .*"key"/,
      });
    }
    dogs.set("42", 1);
    assert.deepEqual(replaceIfHolds("claim", dogs, 42 as unknown as string, 1, 2, 0), {
      ok: true,
      forcible: false,
    });
    assert.equal(dogs.get("42"), 2, "a number key is the same item as its string, as in get and set");
  });

  it("the largest value that fits an empty zone is stored whole; one byte more is no memory", () => {
    const zone = testZone(1024 * 1024);
    const dogs = zone.dict;
    const fits = (n: number): boolean => {
      const ok = dogs.safeSet("v", new Uint8Array(n)).ok;
      dogs.delete("v");
      return ok;
    };
    let low = 0;
    let high = dogs.capacity();
    while (low + 1 < high) {
      const mid = Math.floor((low + high) / 2);
      if (fits(mid)) low = mid;
      else high = mid;
    }
    const free = dogs.freeSpace();
    assert.ok(low > free - 128 && low < free, `largest value ${low} of ${free} free bytes`);
    const value = new Uint8Array(low).map((_, i) => i % 251);
    assert.deepEqual(dogs.set("v", value), { ok: true, forcible: false });
    assert.deepEqual(dogs.get("v"), value);
    assert.equal(dogs.freeSpace(), 0);
    dogs.delete("v");
    assert.deepEqual(dogs.set("v", new Uint8Array(low + 1)), {
      ok: false,
      reason: "no memory",
      forcible: false,
    });
    const text = "s".repeat(low);
    assert.deepEqual(dogs.set("v", text), { ok: true, forcible: false });
    assert.equal(dogs.get("v"), text);
    assert.deepEqual(zoneHealth(zone).problems, []);
  });

  it("a binary value of 4 GiB, larger than any zone as one of 3 GiB is, is no memory too (it threw ERR_TSRESTY_SHDICT: binary value too large)", () => {
    const dogs = testZone(1024 * 1024).dict;
    const noMemory = { ok: false, reason: "no memory", forcible: false };
    // Zeroed pages the kernel maps on first write: nothing here writes them.
    const huge = new Uint8Array(2 ** 32 - 1);
    for (const value of [huge, huge.subarray(0, 3 * 2 ** 30)]) {
      assert.deepEqual(dogs.set("v", value), noMemory);
      assert.deepEqual(dogs.safeSet("v", value), noMemory);
      assert.deepEqual(dogs.add("v", value), noMemory);
    }
    assert.deepEqual(dogs.set("v", 1), { ok: true, forcible: false });
    assert.deepEqual(dogs.replace("v", huge), { ok: false, reason: "no memory", forcible: false });
    assert.equal(dogs.get("v"), undefined, "as nginx, the old value's memory went first to make room");
  });
});
