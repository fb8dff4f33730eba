// The cache-stampede example on `tsresty start`:
//   ./bin/tsresty start examples/cache-stampede/app.ts --config examples/cache-stampede/tsresty.config.ts
// GET /report?id=7 needs a slow computation (0.5 s). Many requests arriving together on
// several workers would all compute it; with cached() one worker computes and the others
// wait for it and read the zone. `init` fills the zone before the workers start (OpenResty's
// init_by_lua + ngx.shared pattern); GET /stats shows how many computations ran.
import { defineApp, ngx } from "tsresty";
import { cached } from "./cached.ts";

async function slowReport(id: string): Promise<string> {
  ngx.shared["cache"]?.incr("computations", 1, 0);
  await ngx.sleep(0.5); // stands for a slow query
  return `report ${id} computed by worker ${String(ngx.worker.id())} at ${new Date().toISOString()}\n`;
}

export default defineApp({
  init() {
    ngx.shared["cache"]?.set("greeting", "hello from init\n");
  },
  async fetch(request) {
    const url = new URL(request.url);
    const cache = ngx.shared["cache"];
    if (url.pathname === "/stats") {
      return Response.json({
        computations: cache?.get("computations") ?? 0,
        greeting: cache?.get("greeting"),
      });
    }
    const id = url.searchParams.get("id") ?? "1";
    const { value, refreshed } = await cached(`report:${id}`, { ttl: 30, wait: 5 }, () => slowReport(id));
    return new Response(value, { headers: { "x-refreshed": String(refreshed) } });
  },
});
