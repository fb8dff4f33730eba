// Hono mounted on tsresty's workers: `app.fetch` is a web-standard fetch handler.
import { Hono } from "hono";
import { defineApp, ngx } from "../../../src/index.ts";

const app = new Hono();
app.get("/", (c) => c.text(`hello from hono in worker ${String(ngx.worker.id())}\n`));
app.get("/users/:id", (c) => c.json({ framework: "hono", id: c.req.param("id") }));

export default defineApp({ fetch: app.fetch });
