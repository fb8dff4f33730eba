// Fastify mounted on tsresty's workers. Fastify owns its server; `serverFactory` hands over the
// request handler instead, which becomes the app's `handler` (tsresty's worker owns the server).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import Fastify from "fastify";
import { defineApp, ngx } from "../../../src/index.ts";

let route: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
const app = Fastify({
  serverFactory: (handler) => {
    route = handler;
    return createServer(); // never listens: Fastify only needs a server object to hold
  },
});
app.get("/", () => `hello from fastify in worker ${String(ngx.worker.id())}\n`);
app.get<{ Params: { id: string } }>("/users/:id", (request) => ({
  framework: "fastify",
  id: request.params.id,
}));
await app.ready(); // routes and plugins are loaded before the first request

export default defineApp({
  handler(req, res) {
    route?.(req, res);
  },
});
