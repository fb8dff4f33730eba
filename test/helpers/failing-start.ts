/**
 * A `tsresty start` whose `init` fails ("the database is down") when the test says so: what a
 * start that fails tells each of those who hear of it (start's stderr, the error log, `logs -f`,
 * a queued reload).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { startTsresty, type Finished, type Running } from "./processes.ts";
import { scratchApp } from "./scratch.ts";
import { until } from "./wait.ts";

/** An app whose `init` logs `init waits`, waits while the file `hold` beside it exists, then throws. */
const HELD_APP = `import { existsSync } from "node:fs";
const hold = new URL("./hold", import.meta.url);
export default {
  async init() {
    ngx.log(ngx.NOTICE, "init waits");
    while (existsSync(hold)) await ngx.sleep(0.05);
    throw new Error("the database is down");
  },
  fetch: () => new Response("ok"),
};
`;

/** A scratch directory with HELD_APP as app.ts, `hold` written when `held`, and `files`. */
export function failingInitApp(held: boolean, files: Readonly<Record<string, string>> = {}): string {
  return scratchApp({ "app.ts": HELD_APP, ...(held ? { hold: "" } : {}), ...files });
}

/**
 * The reason `tsresty start` printed for the failed `init` (its stack included), from
 * `start failed:` on; the test fails when start did not say it.
 */
export function startFailure(started: Finished): string {
  assert.equal(started.code, 1, started.stderr);
  const failure = /^tsresty: (start failed: init failed: Error: the database is down\n(?:\s+at .*\n)*)/m.exec(
    started.stderr,
  );
  assert.ok(failure?.[1] !== undefined, started.stderr);
  return failure[1];
}

/**
 * Starts the held app (one worker, port 0, prefix `p` in its directory) and returns once its
 * `init` waits; `fail()` lets `init` throw.
 */
export async function heldStart(): Promise<{ prefix: string; run: Running; fail: () => void }> {
  const dir = failingInitApp(true);
  const prefix = join(dir, "p");
  const run = startTsresty(
    ["start", join(dir, "app.ts"), "--workers", "1", "--listen", "127.0.0.1:0", "--prefix", prefix],
    { deadlineMs: 60_000 },
  );
  assert.ok(await until(() => run.stderr().includes("init waits"), 20_000), run.stderr());
  return {
    prefix,
    run,
    fail: () => {
      rmSync(join(dir, "hold"));
    },
  };
}
