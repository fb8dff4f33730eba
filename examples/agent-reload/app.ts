// The privileged agent reloads the whole tree on a schedule (SPEC scenario 5):
//   ./bin/tsresty start examples/agent-reload/app.ts --workers 2 --listen 127.0.0.1:8080
// The agent serves no HTTP; it sends HUP to the master every RELOAD_EVERY seconds, and each
// time a new generation of workers (and a new agent) replaces the old one without a failed request.
// As OpenResty code does, it finds the master through the pid file under the prefix
// (ngx.process.getMasterPid() gives the same number directly).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defineApp, ngx } from "tsresty";

const RELOAD_EVERY = Number(process.env["RELOAD_EVERY"] ?? 5);

export default defineApp({
  init() {
    ngx.process.enablePrivilegedAgent();
  },
  initWorker() {
    if (ngx.process.type() !== "privileged agent") return;
    ngx.timer.every({ interval: RELOAD_EVERY, name: "periodic reload" }, (premature) => {
      if (premature) return; // this agent is being replaced: the new one takes over
      const master = Number(readFileSync(join(ngx.config.prefix(), "tsresty.pid"), "utf8"));
      console.log(`agent ${process.pid}: reloading the master`);
      process.kill(master, "SIGHUP");
    });
  },
  fetch: () => new Response(`worker ${String(ngx.worker.id())} pid ${process.pid}\n`),
});
