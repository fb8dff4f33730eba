// The agent's usual real job: rotating the error log and deleting old rotations.
//   ./bin/tsresty start examples/agent-logrotate/app.ts --error-log /var/log/app/error.log
// Every ROTATE_EVERY seconds the agent renames the log (error.log → error.log.<time>), sends USR1
// to the master, which reopens error.log (the master owns the log: every process's lines go
// through it), and deletes rotated files older than KEEP_SECONDS. The agent keeps the master's
// user (root), so it may touch root-owned logs. The log's path is the one given on the command
// line, read back through ngx.config.
import { readdir, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { defineApp, ngx } from "tsresty";

const ROTATE_EVERY = Number(process.env["ROTATE_EVERY"] ?? 3600);
const KEEP_SECONDS = Number(process.env["KEEP_SECONDS"] ?? 7 * 24 * 3600);

function errorLog(): string {
  const log = ngx.config.get().errorLog;
  if (log === null) throw new Error("give the error log with --error-log FILE (or config errorLog)");
  return log;
}

async function rotate(log: string): Promise<void> {
  const rotated = `${log}.${Date.now()}`;
  await rename(log, rotated);
  process.kill(ngx.process.getMasterPid(), "SIGUSR1");
  console.log(`rotated ${basename(rotated)}`);
}

async function deleteOld(log: string): Promise<void> {
  const dir = dirname(log);
  const prefix = `${basename(log)}.`;
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
    errorLog(); // refuse to start without one
    ngx.process.enablePrivilegedAgent();
  },
  initWorker() {
    if (ngx.process.type() !== "privileged agent") return;
    const log = errorLog();
    ngx.timer.every({ interval: ROTATE_EVERY, name: "logrotate", overlap: false }, async (premature) => {
      if (premature) return;
      await rotate(log);
      await deleteOld(log);
    });
  },
  fetch: () => new Response("ok\n"),
});
