import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { get, startTree } from "../helpers/tree.ts";

/** examples/frameworks/NAME/app.ts, each a small app of that framework mounted on the workers. */
const FRAMEWORKS = ["express", "koa", "fastify", "hono"] as const;

describe("examples/frameworks: a framework app mounted on tsresty's workers", () => {
  for (const framework of FRAMEWORKS) {
    it(`${framework} serves its routes through tsresty start`, async () => {
      const tree = await startTree(`examples/frameworks/${framework}/app.ts`, { workers: 1 });
      assert.deepEqual(await get(tree.url("/")), {
        status: 200,
        body: `hello from ${framework} in worker 0\n`,
      });
      const user = await get(tree.url("/users/42"));
      assert.equal(user.status, 200);
      assert.deepEqual(JSON.parse(user.body), { framework, id: "42" });
      assert.equal((await get(tree.url("/missing/route"))).status, 404);
      const stop = await tree.command("stop");
      assert.equal(stop.code, 0, stop.stderr);
      assert.doesNotMatch(tree.run.stderr(), /\[(error|crit|alert|emerg)\]/);
    });
  }
});
