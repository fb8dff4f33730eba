// The agent's usual real job: rotating the error log and deleting old rotations.
//   ERROR_LOG=/var/log/app/error.log ./bin/tsresty start examples/agent-logrotate/app.ts --error-log /var/log/app/error.log
// Every ROTATE_EVERY seconds the agent renames the log (error.log → error.log.<time>), sends USR1
// to the master so that every process reopens error.log, and deletes rotated files older than
// KEEP_SECONDS. The agent keeps the master's user (root), so it may touch root-owned logs.
import { readdir, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { defineApp, ngx } from "tsresty";

const LOG = process.env["ERROR_LOG"] ?? "";
const ROTATE_EVERY = Number(process.env["ROTATE_EVERY"] ?? 3600);
const KEEP_SECONDS = Number(process.env["KEEP_SECONDS"] ?? 7 * 24 * 3600);

async function rotate(): Promise<void> {
  const rotated = `${LOG}.${Date.now()}`;
  await rename(LOG, rotated);
  process.kill(ngx.process.getMasterPid(), "SIGUSR1");
  console.log(`rotated ${basename(rotated)}`);
}

async function deleteOld(): Promise<void> {
  const dir = dirname(LOG);
  const prefix = `${basename(LOG)}.`;
  for (const name of await readdir(dir)) {
    if (!name.startsWith(prefix)) continue;
    const path = join(dir, name);
    if (Date.now() - (await stat(path)).mtimeMs > KEEP_SECONDS * 1000) {
      await unlink(path);
      console.log(`deleted ${name}`);
    }
  }
}

export default defineApp({
  init() {
    if (LOG === "") throw new Error("set ERROR_LOG to the file given to --error-log");
    ngx.process.enablePrivilegedAgent();
  },
  initWorker() {
    if (ngx.process.type() !== "privileged agent") return;
    ngx.timer.every({ interval: ROTATE_EVERY, name: "logrotate", overlap: false }, async (premature) => {
      if (premature) return;
      await rotate();
      await deleteOld();
    });
  },
  fetch: () => new Response("ok\n"),
});
