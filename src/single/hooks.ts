/**
 * Single mode's module hooks (eval-hooks.mjs: the `-e` code as a module, TypeScript FILEs as ES
 * modules) must be registered before tsx, whose `load` then runs first and transforms what they
 * serve. Registered here, when the main chunk is TypeScript; bin/tsresty registers them itself
 * when tsresty runs from src/ (tsx is active from its start then).
 */
import { register } from "node:module";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { enableTypeScript } from "../util/loader.ts";

const EVAL_PORT = Symbol.for("tsresty.evalPort");

/** The port that sends `-e` code to the hooks; registers the hooks and tsx the first time. */
export async function typeScriptHooks(): Promise<MessagePort> {
  const shared = globalThis as Record<symbol, MessagePort | undefined>;
  let port = shared[EVAL_PORT];
  if (port === undefined) {
    const channel = new MessageChannel();
    register(new URL("./eval-hooks.mjs", import.meta.url), {
      data: { port: channel.port2 },
      transferList: [channel.port2],
    });
    channel.port1.unref();
    port = shared[EVAL_PORT] = channel.port1;
  }
  await enableTypeScript();
  return port;
}
