/**
 * Entry of the privileged agent: a child of the master that serves no HTTP (the master never
 * hands it a connection), keeps the master's user, and runs initWorker/exitWorker and timers
 * like a worker. `connections` (from enablePrivilegedAgent or the config) caps how many timer
 * callbacks it runs at once.
 */
import { awaitSpec, runChild } from "../runtime/index.ts";

await runChild(await awaitSpec(), { serve: () => Promise.resolve(null) });
