import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { alive, get, startTree, until } from "../helpers/tree.ts";

describe("examples/workers", () => {
  it("runs the sync job in worker 0 only, also after worker 0 crashes, and pushes after the response", async () => {
    const tree = await startTree("examples/workers/app.ts", { env: { SYNC_INTERVAL: "0.1" } });
    const zero = (await tree.status()).processes.find((p) => p.id === 0);
    assert.ok(zero !== undefined);
    assert.ok(await until(() => tree.run.output().includes(`sync run by worker 0 (pid ${zero.pid})`)));
    assert.match((await get(tree.url("/orders"))).body, /^hello from worker [01]\n$/);
    assert.ok(
      await until(() => /pushed \{"path":"\/orders","ms":\d+\} from worker [01]/.test(tree.run.output())),
    );

    process.kill(zero.pid, "SIGKILL");
    assert.ok(await until(() => !alive(zero.pid)));
    let next: number | undefined;
    assert.ok(
      await until(async () => {
        next = (await tree.status()).processes.find((p) => p.id === 0)?.pid;
        return next !== undefined && next !== zero.pid;
      }),
    );
    assert.ok(await until(() => tree.run.output().includes(`sync run by worker 0 (pid ${String(next)})`)));
    const runners = new Set([...tree.run.output().matchAll(/sync run by worker (\d+)/g)].map((m) => m[1]));
    assert.deepEqual([...runners], ["0"]);
    await tree.command("stop");
  });
});
