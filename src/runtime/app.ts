import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { describe, InvalidArgTypeError, UnknownOptionError } from "../errors.ts";
import { importUserModule } from "../util/loader.ts";
import { AWAIT_DEFAULT, namedOnly, promisedDefault } from "../util/named-exports.ts";
import { isPlainObject } from "../util/options.ts";

type Hook = () => unknown;

/**
 * An app module's default export. Every member is optional.
 * @example
 * // app.ts
 * export default defineApp({
 *   init: () => ({ startedAt: Date.now() }),
 *   initWorker() { ngx.timer.every(60, sync); },
 *   fetch: (req) => new Response(`hello from worker ${ngx.worker.id()}`),
 * });
 */
export interface App {
  /**
   * Runs once per start and per reload, in a short-lived init process, before any worker starts.
   * What it returns (structured-cloneable) is `ngx.process.initData()` in that cycle's workers.
   */
  readonly init?: Hook;
  /** Runs at the start of every worker (and of the privileged agent). */
  readonly initWorker?: Hook;
  /** Runs in every worker (and the agent) after its graceful drain, before it exits. */
  readonly exitWorker?: Hook;
  /** A web-standard handler: `Request` in, `Response` out, bodies streamed both ways. */
  readonly fetch?: (request: Request) => Response | Promise<Response>;
  /** A node:http handler, so Express, Koa or Fastify's routing can be mounted. */
  readonly handler?: (req: IncomingMessage, res: ServerResponse) => unknown;
  /**
   * HTTP upgrade requests (WebSocket), as node:http's 'upgrade' event: the socket is the app's
   * from then on. Needs `fetch` or `handler` beside it for the other requests.
   * @example
   * const wss = new WebSocketServer({ noServer: true });
   * export default defineApp({
   *   fetch: () => new Response("use a WebSocket\n", { status: 426 }),
   *   upgrade: (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => ws.send("hi")),
   * });
   */
  readonly upgrade?: (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;
}

const APP_KEYS = ["init", "initWorker", "exitWorker", "fetch", "handler", "upgrade"] as const;

/**
 * The app members a module's default export has (`fetch`, `initWorker`, …): none unless it is a
 * plain object. Single mode says so of an app it was given, which it runs but does not serve.
 */
export function appMembers(value: unknown): string[] {
  if (!isPlainObject(value)) return [];
  try {
    return APP_KEYS.filter((key) => Object.hasOwn(value, key));
  } catch {
    return []; // a Proxy whose trap throws
  }
}

/**
 * Types an app module. Returns its argument unchanged.
 * @example
 * export default defineApp({
 *   // every worker asks; one process of the host runs each tick, reloads and crashes included
 *   initWorker() { ngx.timer.every({ interval: 60, name: "sync", singleton: "host" }, sync); },
 *   fetch: () => new Response("hello\n"),
 * });
 */
export function defineApp(app: App): App {
  return app;
}

/** Checks an app module's default export; every error names the file and the member. */
export function checkApp(value: unknown, file: string): App {
  const where = `app ${file}`;
  if (promisedDefault(value)) {
    const expected = "an app object (export default defineApp({...}))";
    throw new InvalidArgTypeError(where, "default export", expected, value, `a Promise: ${AWAIT_DEFAULT}`);
  }
  if (typeof value !== "object" || value === null) {
    throw new InvalidArgTypeError(
      where,
      "default export",
      "an app object (export default defineApp({...}))",
      value,
    );
  }
  if (!isPlainObject(value)) {
    // A framework's app object (`export default new Hono()`): its own keys are not app members.
    // (Also a revoked Proxy, which cannot be looked at.)
    throw new InvalidArgTypeError(
      where,
      "default export",
      "a plain app object (export default defineApp({...})); for a framework's app, " +
        "defineApp({ fetch: app.fetch }) or defineApp({ handler: app })",
      value,
    );
  }
  const app = value;
  // An app with no member does nothing in any process. Such is what an empty module gives when
  // it is CommonJS (a .ts or .js file outside an ES-module package): its exports, an empty
  // object, are its default export; an empty .mjs has none, and was refused as such.
  if (Object.keys(app).length === 0) {
    throw new InvalidArgTypeError(
      where,
      "default export",
      `an app with at least one member (${APP_KEYS.join(", ")}): one with none does nothing`,
      value,
      "an object with none (an empty .ts or .js file outside an ES-module package is CommonJS, and exports one)",
    );
  }
  for (const key of Object.keys(app)) {
    if (!(APP_KEYS as readonly string[]).includes(key)) throw new UnknownOptionError(where, key, APP_KEYS);
    if (typeof app[key] !== "function") throw new InvalidArgTypeError(where, key, "a function", app[key]);
  }
  if (app["fetch"] !== undefined && app["handler"] !== undefined) {
    throw new InvalidArgTypeError(
      where,
      "fetch/handler",
      "one HTTP handler, not both",
      describe(app["handler"]),
    );
  }
  if (app["upgrade"] !== undefined && app["fetch"] === undefined && app["handler"] === undefined) {
    throw new InvalidArgTypeError(
      where,
      "upgrade",
      "beside a fetch or handler member (without one, workers serve no HTTP)",
      describe(app["upgrade"]),
    );
  }
  return app;
}

/**
 * Checks an app module: its default export is the app, and a named export with a member's name
 * must be a member of the default export too. Otherwise `export function initWorker() {}`
 * beside `export default { handler }` would be a hook that never runs, without a word.
 */
export function checkAppModule(module: Readonly<Record<string, unknown>>, file: string): App {
  const stray = namedOnly(module, APP_KEYS);
  if (stray !== undefined) {
    throw new InvalidArgTypeError(
      `app ${file}`,
      stray,
      `a member of the default export, where tsresty reads the app (export default defineApp({ ${stray}, … })), not only a named export`,
      module[stray],
    );
  }
  return checkApp(module["default"], file);
}

/** Imports an app module and checks it ({@link checkAppModule}). */
export async function loadApp(path: string): Promise<App> {
  return checkAppModule(await importUserModule(path), path);
}
