// The light Response against undici's, member by member. Every case builds the same Response
// with both classes and compares what the app can observe.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { after, describe, it } from "node:test";
import { inspect } from "node:util";
import {
  installLightResponse,
  LightResponse,
  MATERIALIZE_CHANNEL,
  restoreResponse,
} from "../../src/worker/fetch/index.ts";

const Undici = globalThis.Response;

let materialized = 0;
const count = (): void => {
  materialized++;
};
subscribe(MATERIALIZE_CHANNEL, count);
after(() => unsubscribe(MATERIALIZE_CHANNEL, count));

/** What a Response shows without touching its body. */
function cheap(response: Response): Record<string, unknown> {
  return {
    status: response.status,
    statusText: response.statusText,
    ok: response.ok,
    headers: [...response.headers],
    type: response.type,
    url: response.url,
    redirected: response.redirected,
    bodyUsed: response.bodyUsed,
  };
}

/** Everything, the body read as bytes. */
async function everything(response: Response): Promise<Record<string, unknown>> {
  const before = { ...cheap(response), nullBody: response.body === null };
  const bytes = [...new Uint8Array(await response.arrayBuffer())];
  return { ...before, bytes, bodyUsedAfter: response.bodyUsed };
}

/** The error a call throws (or its promise rejects with), as class and message; or "no error". */
async function failure(call: () => unknown): Promise<string> {
  try {
    await call();
    return "no error";
  } catch (error) {
    return `${(error as Error).constructor.name}: ${(error as Error).message}`;
  }
}

type Args = [body?: unknown, init?: unknown];
const BOUNDARY = /formdata-undici-\d+/g;
/** `C.redirect` with the status left out or not a redirect's (the types forbid both). */
const redirect = (C: typeof Response, ...args: unknown[]): Response =>
  Reflect.apply(Reflect.get(C, "redirect") as (...a: unknown[]) => Response, C, args);
/** A member of the body mixin by name (undici's formData() is deprecated for servers, compared here all the same). */
const read = (response: Response, reader: string): Promise<unknown> =>
  Reflect.apply(Reflect.get(response, reader) as () => Promise<unknown>, response, []);
const make = (C: typeof Response, [body, init]: Args): Response =>
  new C(body as ConstructorParameters<typeof Response>[0], init as ResponseInit);

// Each case returns fresh arguments: bodies are consumed and inits may be mutated.
const BODIES: Record<string, () => unknown> = {
  "no body": () => undefined,
  null: () => null,
  "a string": () => "hello\n",
  "an empty string": () => "",
  "a lone surrogate": () => "a\ud800b",
  "a Uint8Array": () => new Uint8Array([104, 105]),
  "a Buffer (a view into a pool)": () => Buffer.from("pooled"),
  "a DataView": () => new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2),
  "an ArrayBuffer": () => new Uint8Array([7, 8]).buffer,
  URLSearchParams: () => new URLSearchParams({ a: "1", b: "x y" }),
  "a typed Blob": () => new Blob(["<p>"], { type: "text/html" }),
  "an untyped Blob": () => new Blob(["raw"]),
  FormData: () => {
    const form = new FormData();
    form.set("a", "1");
    return form;
  },
  "a ReadableStream": () => new Blob(["streamed"]).stream(),
  "a number": () => 42,
  "an object": () => ({ toString: () => "from toString" }),
};
const INITS: Record<string, () => unknown> = {
  "no init": () => undefined,
  "null init": () => null,
  "status and statusText": () => ({ status: 201, statusText: "Made It" }),
  "headers as a record": () => ({ headers: { "X-One": " 1 ", "Content-Type": "text/x-mine" } }),
  "headers as pairs with set-cookie twice": () => ({
    headers: [
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
      ["x-two", "2"],
    ],
  }),
  "a Headers object": () => ({ headers: new Headers({ "x-three": "3" }) }),
  "a Response as init": () => new Undici(null, { status: 299, headers: { "x-from": "response" } }),
  "a status as a string": () => ({ status: "202" }),
  "a status that wraps around 2^16": () => ({ status: 65736 }),
  "a statusText of null (undici reads it as text)": () => ({ statusText: null }),
};

describe("the light Response against undici's", () => {
  it("shows status, statusText, ok, headers, type, url, redirected, bodyUsed and the bytes as undici's does, for every body and init", async () => {
    for (const [bodyName, body] of Object.entries(BODIES)) {
      for (const [initName, init] of Object.entries(INITS)) {
        const what = `${bodyName}, ${initName}`;
        const expected = await everything(make(Undici, [body(), init()]));
        const actual = await everything(make(LightResponse, [body(), init()]));
        // FormData's boundary is random: compare its shape.
        if (bodyName === "FormData") {
          for (const result of [expected, actual]) {
            result["headers"] = String(result["headers"]).replace(BOUNDARY, "B");
            result["bytes"] = String(Buffer.from(result["bytes"] as number[])).replace(BOUNDARY, "B");
          }
        }
        assert.deepEqual(actual, expected, what);
      }
    }
  });

  it("answers the cheap members without making undici's Response, for strings, bytes, URLSearchParams, Blobs and null", () => {
    const light = ["a string", "a Uint8Array", "an ArrayBuffer", "URLSearchParams", "a typed Blob", "null"];
    for (const name of light) {
      const before = materialized;
      const response = make(LightResponse, [BODIES[name]?.(), { status: 203, headers: { "x-a": "1" } }]);
      cheap(response);
      make(LightResponse, [BODIES[name]?.()]).headers.get("content-type");
      assert.equal(materialized, before, name);
      assert.equal(response.body === null, name === "null", name);
      assert.equal(materialized, name === "null" ? before : before + 1, `${name}: body made it`);
    }
  });

  it("throws undici's errors for what undici refuses, in the constructor and the statics", async () => {
    const cases: [string, (C: typeof Response) => unknown][] = [
      ["a status below 200", (C) => new C("x", { status: 199 })],
      ["a status above 599", (C) => new C("x", { status: 600 })],
      ["NaN status", (C) => new C("x", { status: NaN })],
      ["a null status", (C) => new C("x", { status: null as unknown as number })],
      ["a body with status 204", (C) => new C("x", { status: 204 })],
      ["a body with status 304", (C) => new C(new Uint8Array(1), { status: 304 })],
      ["a statusText with a newline", (C) => new C("x", { statusText: "a\nb" })],
      ["a statusText beyond Latin-1", (C) => new C("x", { statusText: "\u0100" })],
      ["an invalid header name", (C) => new C("x", { headers: { "a b": "1" } })],
      ["an invalid header value", (C) => new C("x", { headers: { a: "1\n2" } })],
      ["headers null", (C) => new C("x", { headers: null as unknown as Headers })],
      ["an init that is a number", (C) => new C("x", 5 as unknown as ResponseInit)],
      ["a locked stream", (C) => new C(lockedStream())],
      ["json with nothing", (C) => Reflect.apply(Reflect.get(C, "json") as () => Response, C, [])],
      ["json of undefined", (C) => C.json(undefined)],
      ["json of a BigInt", (C) => C.json(1n)],
      ["json with status 204", (C) => C.json({}, { status: 204 })],
      ["json with a null init", (C) => C.json({}, null as unknown as ResponseInit)],
      ["json with a bad status", (C) => C.json({}, { status: 700 })],
      ["a redirect with status 200", (C) => redirect(C, "http://example.com/", 200)],
      ["a redirect to a relative URL", (C) => redirect(C, "/relative")],
    ];
    for (const [what, call] of cases) {
      const expected = await failure(() => call(Undici));
      assert.notEqual(expected, "no error", what);
      assert.equal(await failure(() => call(LightResponse)), expected, what);
    }
  });

  it("reads a body once, by every reader, and fails a second read as undici's does", async () => {
    const readers = ["text", "json", "arrayBuffer", "blob", "bytes", "formData"] as const;
    for (const reader of readers) {
      const body = (): [string, ResponseInit] =>
        reader === "formData"
          ? ["a=1&b=2", { headers: { "content-type": "application/x-www-form-urlencoded" } }]
          : ['{"a":1}', {}];
      const run = async (C: typeof Response): Promise<unknown[]> => {
        const response = new C(...body());
        const again = (): Promise<unknown> => read(response, reader);
        const first = await again();
        const shown =
          first instanceof Blob
            ? [first.type, await first.text()]
            : first instanceof FormData
              ? [...first]
              : first instanceof ArrayBuffer
                ? [...new Uint8Array(first)]
                : first;
        return [shown, response.bodyUsed, await failure(again), await failure(() => response.clone())];
      };
      assert.deepEqual(await run(LightResponse), await run(Undici), reader);
    }
  });

  it("clones into an independent Response with the headers as the app last set them", async () => {
    const run = async (C: typeof Response): Promise<unknown[]> => {
      const response = new C("shared", { headers: { "x-a": "1" } });
      response.headers.set("x-b", "2");
      const copy = response.clone();
      response.headers.set("x-c", "only on the original");
      return [
        [...copy.headers],
        [...response.headers],
        await copy.text(),
        await response.text(),
        copy instanceof C,
      ];
    };
    assert.deepEqual(await run(LightResponse), await run(Undici));
  });

  it("gives blob() and formData() the content-type the app set after construction", async () => {
    const run = async (C: typeof Response): Promise<unknown[]> => {
      const html = new C("<p>");
      html.headers.set("content-type", "text/html");
      const form = new C("a=1");
      form.headers.set("content-type", "application/x-www-form-urlencoded");
      return [(await html.blob()).type, [...((await read(form, "formData")) as FormData)]];
    };
    assert.deepEqual(await run(LightResponse), await run(Undici));
  });

  it("keeps its own copy of the bytes and of the headers given, as undici does", async () => {
    const run = async (C: typeof Response): Promise<unknown[]> => {
      const bytes = new Uint8Array([1, 2, 3]);
      const headers = new Headers({ "x-a": "1" });
      const record = { "x-b": "2" };
      const response = new C(bytes, { headers });
      const other = new C(null, { headers: record });
      bytes[0] = 9;
      headers.set("x-a", "changed");
      record["x-b"] = "changed";
      return [[...new Uint8Array(await response.arrayBuffer())], [...response.headers], [...other.headers]];
    };
    assert.deepEqual(await run(LightResponse), await run(Undici));
  });

  it("Response.json, Response.redirect and Response.error behave as undici's", async () => {
    const statics: [string, (C: typeof Response) => Response][] = [
      ["json", (C) => C.json({ a: [1, "two"] })],
      ["json with init", (C) => C.json("s", { status: 202, statusText: "Fine", headers: { "x-a": "1" } })],
      [
        "json keeping a content-type",
        (C) => C.json(null, { headers: { "content-type": "application/ld+json" } }),
      ],
      ["redirect", (C) => C.redirect("http://example.com/a b", 307)],
      ["redirect to a URL", (C) => redirect(C, new URL("http://example.com/x"))],
      ["error", (C) => C.error()],
    ];
    for (const [what, call] of statics) {
      assert.deepEqual(await everything(call(LightResponse)), await everything(call(Undici)), what);
    }
    const immutable = async (C: typeof Response): Promise<string[]> => [
      await failure(() => redirect(C, "http://example.com/").headers.set("x", "1")),
      await failure(() => C.error().headers.set("x", "1")),
    ];
    assert.deepEqual(await immutable(LightResponse), await immutable(Undici));
  });

  it("is instanceof both classes, and undici's own Responses (fetch's) are instanceof the light class", async () => {
    const light = new LightResponse("x");
    assert.ok(light instanceof LightResponse);
    assert.ok(light instanceof Undici);
    assert.ok(new Undici("x") instanceof LightResponse);
    assert.ok(LightResponse.error() instanceof LightResponse);
    const fetched = await fetch("data:text/plain,hi");
    assert.ok(fetched instanceof LightResponse);
    assert.equal(Object.prototype.toString.call(light), "[object Response]");
    assert.equal(LightResponse.name, "Response");
    assert.equal(light.constructor, LightResponse);
    // A subclass keeps the ordinary check, and its instances are light.
    class Mine extends LightResponse {}
    const mine = new Mine("m", { status: 201 });
    assert.ok(mine instanceof Mine && mine instanceof LightResponse && mine instanceof Undici);
    assert.ok(!(light instanceof Mine));
    assert.deepEqual([mine.status, await mine.text()], [201, "m"]);
  });

  it("hands out undici's own stream as its body: it feeds a Request and fetch()", async () => {
    const light = new LightResponse("forwarded body");
    const request = new Request("http://example.com/", { method: "POST", body: light.body, duplex: "half" });
    assert.equal(await request.text(), "forwarded body");
    assert.equal(light.bodyUsed, true);
    // The documented limit: undici's prototype getters check their own private state.
    assert.throws(() => Reflect.get(Undici.prototype, "status", new LightResponse("x")), TypeError);
  });

  it("shows itself in inspect without making undici's Response", () => {
    const before = materialized;
    const shown = inspect(new LightResponse("x", { status: 201 }));
    assert.match(shown, /^Response \(lightweight\) \{/);
    assert.match(shown, /status: 201/);
    assert.equal(materialized, before);
  });

  it("installs as the global Response and puts undici's back, unless another class took its place", () => {
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, "Response");
    installLightResponse();
    assert.equal(globalThis.Response, LightResponse);
    const installed = Object.getOwnPropertyDescriptor(globalThis, "Response");
    assert.deepEqual(
      [installed?.writable, installed?.enumerable, installed?.configurable],
      [true, false, true],
    );
    restoreResponse();
    // Node's own descriptor is back (its lazy getter, or the value it left once read).
    assert.equal(globalThis.Response, Undici);
    installLightResponse();

    class Theirs extends Undici {}
    globalThis.Response = Theirs;
    restoreResponse();
    assert.equal(globalThis.Response, Theirs);
    Object.defineProperty(globalThis, "Response", descriptor as PropertyDescriptor);
  });
});

function lockedStream(): ReadableStream {
  const stream = new Blob(["x"]).stream();
  stream.getReader();
  return stream;
}
