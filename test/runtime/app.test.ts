import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkAppModule } from "../../src/runtime/app.ts";

const handler = (): void => undefined;
const initWorker = (): void => undefined;

describe("an app module", () => {
  it("is its default export; named exports that are also its members, and other named exports, are fine", () => {
    const app = { handler, initWorker };
    assert.equal(checkAppModule({ default: app, handler, initWorker, helper: 1 }, "app.ts"), app);
  });

  it("refuses a hook that is only a named export, naming it and where it belongs", () => {
    assert.throws(
      () => checkAppModule({ default: { handler }, initWorker }, "app.mjs"),
      (error: Error) =>
        error instanceof TypeError &&
        error.message ===
          'app app.mjs: "initWorker" must be a member of the default export, where tsresty reads the app ' +
            "(export default defineApp({ initWorker, … })), not only a named export, received a function (initWorker)",
    );
  });

  it("takes the default export's member when a named export of that name differs (a hook wrapped for the app)", () => {
    const wrapped = (): void => undefined;
    const app = { handler: wrapped };
    assert.equal(checkAppModule({ default: app, handler }, "app.ts").handler, wrapped);
  });

  it("refuses named members without a default export, and names the member first", () => {
    assert.throws(
      () => checkAppModule({ fetch: handler }, "app.ts"),
      /"fetch" must be a member of the default export/,
    );
    assert.throws(() => checkAppModule({ helper: 1 }, "app.ts"), /"default export" must be an app object/);
  });
});

describe("an app object", () => {
  it("is a plain object; a framework's app object is refused with the way to mount it", () => {
    class Hono {
      readonly router = {};
      readonly fetch = (): Response => new Response("x");
    }
    assert.throws(
      () => checkAppModule({ default: new Hono() }, "app.ts"),
      (error: Error) =>
        error.message ===
        'app app.ts: "default export" must be a plain app object (export default defineApp({...})); ' +
          "for a framework's app, defineApp({ fetch: app.fetch }) or defineApp({ handler: app }), " +
          "received an object (Hono)",
    );
    const bare = Object.assign(Object.create(null) as object, { handler });
    assert.equal(checkAppModule({ default: bare }, "app.ts"), bare);
  });

  it("refuses a revoked Proxy as the default export with the check's own error (it threw the Proxy's TypeError)", () => {
    const { proxy, revoke } = Proxy.revocable({ handler }, {});
    revoke();
    assert.throws(
      () => checkAppModule({ default: proxy }, "app.ts"),
      (error: Error & { code?: string }) =>
        error.code === "ERR_TSRESTY_INVALID_ARG_TYPE" &&
        error.message.startsWith('app app.ts: "default export" must be a plain app object'),
    );
  });
});
