import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { scratchApp } from "../helpers/scratch.ts";
import { get, startTree, until } from "../helpers/tree.ts";

describe("config standby", () => {
  it("standby: false keeps no spare process; a killed worker is replaced by a fresh fork", async () => {
    const dir = scratchApp({
      "app.mjs": `export default { fetch: () => new Response(String(process.pid)) };\n`,
      "config.mjs": `export default { standby: false };\n`,
    });
    const tree = await startTree(join(dir, "app.mjs"), {
      workers: 1,
      args: ["--config", join(dir, "config.mjs")],
    });
    const first = Number((await get(tree.url())).body);
    // A standby boots right after ready; give it time to show, as it would with the default.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(
      (await tree.status()).processes.map((p) => p.type),
      ["master", "worker"],
    );
    process.kill(first, "SIGKILL");
    assert.ok(
      await until(async () => {
        const workers = (await tree.status()).processes.filter((p) => p.type === "worker");
        return workers.length === 1 && workers[0]?.pid !== first;
      }, 20_000),
      "the worker is respawned",
    );
    assert.notEqual(Number((await get(tree.url())).body), first);
    assert.deepEqual(
      (await tree.status()).processes.map((p) => p.type),
      ["master", "worker"],
    );
    await tree.command("stop");
    assert.equal((await tree.run.done).code, 0);
  });
});
