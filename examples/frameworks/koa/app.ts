// Koa mounted on tsresty's workers: `app.callback()` is a node:http handler.
import Koa from "koa";
import { defineApp, ngx } from "../../../src/index.ts";

const app = new Koa();
app.use((ctx) => {
  if (ctx.path === "/") {
    ctx.body = `hello from koa in worker ${String(ngx.worker.id())}\n`;
    return;
  }
  const user = /^\/users\/([^/]+)$/.exec(ctx.path);
  if (user !== null) ctx.body = { framework: "koa", id: user[1] };
});

export default defineApp({ handler: app.callback() });
