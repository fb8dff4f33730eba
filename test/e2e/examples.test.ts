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

describe("examples/cache-stampede", () => {
  it("on tsresty start: 20 requests at once on 2 workers, one computation; init filled the zone first", async () => {
    const tree = await startTree("examples/cache-stampede/app.ts", {
      workers: null,
      args: ["--config", "examples/cache-stampede/tsresty.config.ts"],
    });
    const bodies = await Promise.all(Array.from({ length: 20 }, () => get(tree.url("/report?id=7"))));
    assert.equal(new Set(bodies.map((b) => b.body)).size, 1, "every request got the one computed report");
    assert.match(bodies[0]?.body ?? "", /^report 7 computed by worker [01] at /);
    const stats = JSON.parse((await get(tree.url("/stats"))).body) as {
      computations: number;
      greeting: string;
    };
    assert.deepEqual(stats, { computations: 1, greeting: "hello from init\n" });
    await tree.command("stop");
  });
});
