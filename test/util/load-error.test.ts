import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ContextError, InvalidArgTypeError } from "../../src/errors.ts";
import { describeLoadError, describeUncaught, describeUserError } from "../../src/util/load-error.ts";

/** A frame inside tsresty's own sources, which the description leaves out. */
const OWN_FRAME = `    at loadApp (${fileURLToPath(new URL("../../src/runtime/app.ts", import.meta.url))}:120:9)`;

function withStack<E extends Error>(error: E, ...frames: string[]): E {
  error.stack = [`${error.name}: ${error.message}`, ...frames].join("\n");
  return error;
}

describe("describeLoadError", () => {
  it("reads tsresty's own error about the module as it is: it names the file already", () => {
    const error = withStack(
      new InvalidArgTypeError("app /srv/app.ts", "default export", "an app object", 1),
      OWN_FRAME,
    );
    assert.equal(describeLoadError("app", error), error.message);
  });

  it("gives tsresty's error the module's place when the module's own code caused it, as a path", () => {
    const error = withStack(
      new ContextError("ngx.timer.every", "the context of init"),
      "    at every (/srv/node_modules/tsresty/dist/chunk.js:1:2)",
      "    at file:///srv/app.mjs:3:11",
      OWN_FRAME,
    );
    assert.equal(
      describeLoadError("app", error),
      "app failed to load: /srv/app.mjs:3: ContextError: ngx.timer.every: API disabled in the context of init\n" +
        "    at file:///srv/app.mjs:3:11",
    );
  });

  it("names a user error's first own frame, and keeps only the user's frames", () => {
    const error = withStack(
      new Error("bad app"),
      "    at check (/srv/app.ts:2:9)",
      OWN_FRAME,
      "    at /srv/app.ts:4:1",
    );
    assert.equal(
      describeLoadError("app", error),
      "app failed to load: /srv/app.ts:2: bad app\n    at check (/srv/app.ts:2:9)\n    at /srv/app.ts:4:1",
    );
  });

  it("describes a value that cannot be looked at (a revoked Proxy, an error whose name getter throws) without throwing again: init's failure is reported, not Node's crash report of the describer", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    class NameThrows extends Error {
      override get name(): string {
        throw new Error("no name");
      }
    }
    for (const odd of [proxy, new NameThrows("x")]) {
      for (const describe of [
        describeUserError,
        describeUncaught,
        (e: unknown) => describeLoadError("app", e),
      ]) {
        const text = describe(odd);
        assert.equal(typeof text, "string");
        assert.ok(text.length > 0);
      }
    }
    assert.equal(describeUserError(proxy), "non-error value thrown: <Revoked Proxy>");
    assert.equal(
      describeLoadError("app", proxy),
      "app failed to load: non-error value thrown: <Revoked Proxy>",
    );
  });
});
