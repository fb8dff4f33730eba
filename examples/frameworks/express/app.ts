// Express mounted on tsresty's workers: an Express app is a node:http handler, so it is `handler`.
import express from "express";
import { defineApp, ngx } from "../../../src/index.ts";

const app = express();
app.get("/", (_req, res) => {
  res.send(`hello from express in worker ${String(ngx.worker.id())}\n`);
});
app.get("/users/:id", (req, res) => {
  res.json({ framework: "express", id: req.params.id });
});

export default defineApp({ handler: app });
