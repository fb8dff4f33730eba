import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/errors.ts";
import { loadConfigInput, withOverrides } from "../../src/config/load.ts";
import { resolveConfig } from "../../src/config/resolve.ts";
import { scratchDir, writeFiles } from "../helpers/scratch.ts";

describe("a config module", () => {
  const dir = scratchDir("config-load");
  const load = (name: string, text: string): Promise<Record<string, unknown>> => {
    writeFiles(dir, { [name]: text });
    return loadConfigInput(join(dir, name));
  };

  it("with a syntax error: the message names the line (Node's loader gave none for a JavaScript module)", async () => {
    await assert.rejects(
      load("syntax.mjs", "export default {\n  workers: 2,\n  listen: 8080\n  timers: {}\n};\n"),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.message.endsWith(
          `failed to load: ${join(dir, "syntax.mjs")}:4: Unexpected identifier 'timers'`,
        ),
    );
  });

  it("that throws at its top level, or imports a module that does: the message names the thrower's file and line, and its frames", async () => {
    writeFiles(dir, { "helper.mjs": "export const zones = {};\nthrow new Error('no zones file');\n" });
    for (const name of ["throws.mjs", "imports.mjs"]) {
      const text =
        name === "throws.mjs"
          ? "export default {};\nthrow new Error('no zones file');\n"
          : "import { zones } from './helper.mjs';\nexport default { shdict: zones };\n";
      const thrower = join(dir, name === "throws.mjs" ? name : "helper.mjs");
      // Before: "failed to load: no zones file", with neither file nor line.
      await assert.rejects(load(name, text), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        const [first, frame] = error.message.split("\n");
        assert.equal(first, `${join(dir, name)}: failed to load: ${thrower}:2: no zones file`);
        assert.match(frame ?? "", new RegExp(`^    at .*${thrower.replace(/[.]/g, "\\.")}:2:7\\)?$`));
        return true;
      });
    }
  });

  it("is its default export; a named export that is also its key, and other named exports, are fine", async () => {
    const input = await load(
      "a.mjs",
      "export const workers = 3;\nexport const helper = 1;\nexport default { workers };\n",
    );
    assert.deepEqual(input, { workers: 3 });
  });

  it("takes the default export's key when a named export of that name differs (a value built from it)", async () => {
    const input = await load(
      "e.mjs",
      "export const timers = { maxPending: 10 };\nexport default { timers: { ...timers, maxRunning: 5 } };\n",
    );
    assert.deepEqual(input, { timers: { maxPending: 10, maxRunning: 5 } });
  });

  it("refuses a key that is only a named export, naming it and where it belongs", async () => {
    await assert.rejects(
      load("b.mjs", "export const workers = 3;\nexport default { shutdownTimeout: 2 };\n"),
      (error: Error) =>
        error instanceof ConfigError &&
        error.key === "workers" &&
        error.message ===
          `${join(dir, "b.mjs")}: workers is a named export, which tsresty does not read: ` +
            "put it in the default export (export default defineConfig({ workers, … }))",
    );
  });

  it("refuses named keys without a default export, naming the key first", async () => {
    await assert.rejects(load("c.mjs", "export const listen = [8080];\n"), /listen is a named export/);
    await assert.rejects(load("d.mjs", "export const helper = 1;\n"), /has no default export/);
  });
});

describe("flags over a config file (withOverrides)", () => {
  const flagZones = { cats: "1m" };

  it("adds --shdict zones to the file's zones, a flag's size winning for a name in both", () => {
    const merged = withOverrides({ workers: 2, shdict: { dogs: "1m", cats: "2m" } }, { shdict: flagZones });
    assert.deepEqual(merged, { workers: 2, shdict: { dogs: "1m", cats: "1m" } });
  });

  it("keeps a file's shdict that is not a plain object, so that it is refused as without the flag", () => {
    // Before: a Map's (or a class's) zones were spread into {} and lost without a word.
    for (const zones of [
      new Map([["dogs", "1m"]]),
      null,
      ["dogs 1m"],
      Object.create({ dogs: "1m" }) as object,
    ]) {
      const merged = withOverrides({ shdict: zones }, { shdict: flagZones });
      assert.equal(merged["shdict"], zones);
      assert.throws(() => resolveConfig(merged), { message: /^config: shdict /, code: "ERR_TSRESTY_CONFIG" });
    }
  });
});
