// The seed scenario on `tsresty start`:
//   ./bin/tsresty start examples/workers/app.ts --workers 2 --listen 127.0.0.1:8080
// - a periodic job that only worker 0 runs, which keeps running when worker 0 crashes
//   (the respawned worker inherits id 0 and runs initWorker again);
// - a request that answers at once and pushes its data afterwards, in a zero-delay timer
//   (OpenResty's log_by_lua + ngx.timer.at(0) pattern): the client never waits for the push.
import { defineApp, ngx } from "tsresty";

const SYNC_INTERVAL = Number(process.env["SYNC_INTERVAL"] ?? 5);

async function pushSomewhere(record: { path: string; ms: number }): Promise<void> {
  await ngx.sleep(0.05); // stands for a network call to a log collector
  console.log(`pushed ${JSON.stringify(record)} from worker ${String(ngx.worker.id())}`);
}

export default defineApp({
  initWorker() {
    if (ngx.worker.id() !== 0) return;
    ngx.timer.every({ interval: SYNC_INTERVAL, name: "sync", overlap: false }, (premature) => {
      if (premature) return; // the worker is exiting: nothing to start now
      console.log(`sync run by worker 0 (pid ${process.pid})`);
    });
  },
  fetch(request) {
    const started = Date.now();
    const path = new URL(request.url).pathname;
    ngx.timer.at(0, () => pushSomewhere({ path, ms: Date.now() - started }));
    return new Response(`hello from worker ${String(ngx.worker.id())}\n`);
  },
});
