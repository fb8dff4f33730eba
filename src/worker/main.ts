/**
 * Entry of a worker process. Forked with its spec in TSRESTY_CHILD, or as a standby: booted
 * ahead of need (Node, the TypeScript loader, tsresty's runtime), waiting for the master's
 * "assume" message to become a worker in a few milliseconds instead of a fresh boot.
 */
import {
  CHILD_SPEC_ENV,
  decodeChildSpec,
  parseMasterMessage,
  STANDBY,
  type ChildSpec,
  type ChildMessage,
} from "../ipc/index.ts";
import { dropPrivileges, runChild } from "../runtime/index.ts";
import { serveHttp } from "./http.ts";

function standBy(): Promise<ChildSpec> {
  return new Promise((resolve) => {
    process.on("disconnect", () => process.exit(0));
    const onMessage = (raw: unknown): void => {
      const message = parseMasterMessage(raw);
      if (message?.type === "stop") process.exit(0);
      if (message?.type !== "assume") return;
      process.off("message", onMessage);
      resolve(message.spec);
    };
    process.on("message", onMessage);
    process.send?.({ type: "standing-by" } satisfies ChildMessage);
  });
}

const text = process.env[CHILD_SPEC_ENV];
const spec = text === STANDBY ? await standBy() : decodeChildSpec(text);

await runChild(spec, {
  prepare: (config) => {
    if (config.user !== null) dropPrivileges(config.user);
  },
  serve: (app, context) => Promise.resolve(serveHttp(app, context.log)),
});
