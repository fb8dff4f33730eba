import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runTsresty, type Finished } from "./processes.ts";
import { scratchApp } from "./scratch.ts";

/**
 * `tsresty start` of a one-worker HTTP app with a config file whose text `config` makes (given the
 * app's scratch directory), on 127.0.0.1 port 0 under a fresh prefix there, run to its end: for
 * starts that must fail (one that succeeds runs until the 60 s deadline and fails the test).
 */
export function startWithConfig(config: (dir: string) => string): Promise<Finished> {
  const dir = scratchApp({ "app.ts": "export default { fetch: () => new Response('x') };\n" });
  writeFileSync(join(dir, "c.ts"), config(dir));
  const args = ["start", join(dir, "app.ts"), "--config", join(dir, "c.ts"), "--workers", "1"];
  return runTsresty([...args, "--listen", "127.0.0.1:0", "--prefix", join(dir, "prefix")], {
    deadlineMs: 60_000,
  });
}
