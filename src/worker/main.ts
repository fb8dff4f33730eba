/** Entry of a worker process, forked by the master with its spec in TSRESTY_CHILD. */
import { CHILD_SPEC_ENV, decodeChildSpec } from "../ipc/index.ts";
import { dropPrivileges, runChild } from "../runtime/index.ts";
import { serveHttp } from "./http.ts";

await runChild(decodeChildSpec(process.env[CHILD_SPEC_ENV]), {
  prepare: (config) => {
    if (config.user !== null) dropPrivileges(config.user);
  },
  serve: (app, context) => Promise.resolve(serveHttp(app, context.log)),
});
