/**
 * Entry of a worker process. It boots blank (Node, the TypeScript loader, tsresty's runtime) and
 * waits for the master's "assume"; a standby is such a process booted ahead of need, so that a
 * respawn or a reload takes milliseconds instead of a fresh boot.
 */
import { resolveConfig } from "../config/index.ts";
import { awaitSpec, dropPrivileges, runChild } from "../runtime/index.ts";
import { installLightResponse, restoreResponse } from "./fetch/index.ts";
import { serveHttp } from "./http.ts";

await runChild(await awaitSpec(), {
  prepare: (spec) => {
    if (spec.account !== null) dropPrivileges(spec.account);
    // Before the app's modules run, so that every Response they make is light (docs/http.md).
    if (resolveConfig(spec.config).http.lightResponse) installLightResponse();
  },
  serve: (app, context) => {
    if (app.fetch === undefined) restoreResponse();
    return Promise.resolve(serveHttp(app, context.config, context.log, context.identity.workerId));
  },
});
