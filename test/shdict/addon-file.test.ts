/**
 * A child maps its zones with the addon file the master names in each zone reference, not one it
 * searches for itself (runtime/zones.ts). Each case runs in a fresh process: an addon loads once.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { FROM_SOURCE, ROOT } from "../helpers/processes.ts";

const run = promisify(execFile);
const controllers = new Set<AbortController>();
after(() => {
  for (const controller of controllers) controller.abort();
});

/** Runs `code` (an ES module of tsresty's source) in a new process, under a 20 s deadline. */
async function inProcess(code: string): Promise<{ stdout: string; stderr: string; code: number }> {
  const controller = new AbortController();
  controllers.add(controller);
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [FROM_SOURCE, "--import", "tsx", "--input-type=module", "-e", code],
      { cwd: ROOT, timeout: 20_000, killSignal: "SIGKILL", signal: controller.signal },
    );
    return { stdout, stderr, code: 0 };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: unknown };
    return { stdout: failed.stdout ?? "", stderr: failed.stderr ?? "", code: Number(failed.code ?? -1) };
  } finally {
    controllers.delete(controller);
  }
}

const SHDICT = JSON.stringify(`${ROOT}/src/shdict/index.ts`);
const searched = (
  createRequire(`${ROOT}/package.json`)("node-gyp-build") as { path(dir: string): string }
).path(ROOT);

describe("the addon file a zone reference names", () => {
  it("is the one a process loads: a file that is not there fails the zone, naming it", async () => {
    const result = await inProcess(`
      const shdict = await import(${SHDICT});
      shdict.useAddonFile("/nonexistent/tsresty_shdict.node");
      try {
        shdict.createZone({ name: "dogs", size: 65536 });
        console.log("made");
      } catch (error) {
        console.log(JSON.stringify({ message: error.message, cause: String(error.cause?.cause?.message ?? error.cause?.message) }));
      }
    `);
    assert.equal(result.code, 0, result.stderr);
    const outcome = JSON.parse(result.stdout) as { message: string; cause: string };
    assert.match(outcome.message, /addon could not be loaded/);
    assert.match(outcome.cause, /\/nonexistent\/tsresty_shdict\.node/);
  });

  it("maps zones when it is the addon's file, and stays the file once the addon is loaded", async () => {
    const result = await inProcess(`
      const shdict = await import(${SHDICT});
      shdict.useAddonFile(${JSON.stringify(searched)});
      const zone = shdict.createZone({ name: "dogs", size: 65536 });
      zone.dict.set("k", 1);
      shdict.useAddonFile("/elsewhere/tsresty_shdict.node");
      console.log(JSON.stringify({ value: zone.dict.get("k"), file: shdict.addonFile() }));
    `);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), { value: 1, file: searched });
  });

  it("is node-gyp-build's choice where none is named (the master's own)", async () => {
    const result = await inProcess(`
      const shdict = await import(${SHDICT});
      console.log(JSON.stringify(shdict.addonFile()));
    `);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout), searched);
  });
});
