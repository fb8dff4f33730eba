/**
 * A `Response` that builds nothing until it must. undici's `new Response("hello\n")` makes a web
 * stream for its body (12–16 µs on Node 20), more than the rest of a hello-world exchange, and the
 * fetch adapter only needs the status, the headers and the bytes. So a worker whose app has
 * `fetch` replaces the global `Response` with this class (config `http.lightResponse`, on by
 * default; see `installLightResponse`), as @hono/node-server does (src/response.ts).
 *
 * `new Response(body, init)` keeps the body in a light form (a string, a private copy of the
 * bytes, a Blob, or null) with the status and status text, checked as undici checks them. The
 * cheap members answer from that, exactly as undici would: `status`, `statusText`, `ok`,
 * `headers` (made on first touch, with the content-type the body implies), `type`, `url`,
 * `redirected`, `bodyUsed`, and `body` when it is null. Anything else (`body`, `text()`,
 * `clone()`, `formData()`, …, whatever this Node's undici has) makes the real Response once and
 * forwards to it. What the constructor cannot keep light (a stream, FormData, an init that is not
 * a plain one) is handed to undici at once, so its rules and its errors are undici's own.
 *
 * A light instance is an `instanceof` of this class and of undici's; undici's own instances
 * (what `fetch()` returns) are `instanceof` this class too. The limit: undici's internals and its
 * prototype's getters check their private state, so a light instance cannot *be* the object
 * undici's code reads (`Reflect.get(OriginalResponse.prototype, "status", light)` throws). Every
 * public use goes through this class's members, and what they return is real: `response.body`
 * is undici's stream and can feed `new Request(url, { body, duplex: "half" })` or `fetch()`.
 */
import { channel } from "node:diagnostics_channel";
import { inspect, type InspectOptions } from "node:util";
import { forwardTheRest } from "./forward.ts";
import { lightSource, type Source } from "./light-body.ts";

// The global as this process started with it. Node defines it as a lazy getter: reading it loads
// undici (about 10 MB), which a worker whose app is a node:http `handler` never needs. So nothing
// here reads it until a light Response is made or the global is first touched.
// (Reading even the descriptor loads it on Node 24, whose global is a lazy data property: so the
// descriptor is taken by installLightResponse, never at import.)
let originalGlobal: PropertyDescriptor | undefined;
let undici: typeof Response | undefined;

/** undici's Response (loading undici the first time). */
function original(): typeof Response {
  const descriptor = originalGlobal ?? Object.getOwnPropertyDescriptor(globalThis, "Response");
  return (undici ??= (descriptor?.get?.call(globalThis) ?? descriptor?.value) as typeof Response);
}

/** Each materialisation is published here (`{ response }`): the tests count them. */
export const MATERIALIZE_CHANNEL = "tsresty:fetch:materialize";
const materializeChannel = channel(MATERIALIZE_CHANNEL);

const JSON_TYPE = "application/json";
/** RFC 9112 reason-phrase: HTAB, SP, VCHAR, obs-text (undici's isValidReasonPhrase). */
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** What the adapter sends for a light Response never materialised: no stream, no Headers if none was made. */
export interface LightParts {
  readonly status: number;
  readonly statusText: string;
  /** Null when nobody asked for the headers: then `type` is the only one. */
  readonly headers: Headers | null;
  readonly type: string | null;
  readonly body: string | Uint8Array | null;
}

/** Makes `to` hold what `from` holds. */
function copyHeaders(from: Headers, to: Headers): void {
  for (const name of [...to.keys()]) to.delete(name);
  for (const [name, value] of from) to.append(name, value);
}

/** One of undici's static methods, to call with Reflect.apply and the caller's very arguments. */
const undiciStatic = (name: "json" | "redirect"): ((...args: unknown[]) => Response) =>
  Reflect.get(original(), name) as (...args: unknown[]) => Response;

/** `Response.json`'s text, so that the constructor gives it JSON's content type. */
class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

type Init = ConstructorParameters<typeof Response>[1];
type Body = ConstructorParameters<typeof Response>[0];

let claim: (response: unknown) => LightParts | undefined;
/** Dresses the light class as undici's (forwarded members, prototype chain): once, on first use. */
let wire: () => void;
let wired = false;

class Lightweight {
  #source: Source = null;
  #type: string | null = null;
  #status = 200;
  #statusText = "";
  #headers: Headers | undefined;
  /** The adapter sent the (non-null) body: reads now fail as on undici's Response once sent. */
  #used = false;
  #real: Response | undefined;

  constructor(body: unknown = null, init?: unknown) {
    // Not plain: undici takes it (and its getters on `init` run once more).
    if (!wired) wire();
    if (!this.#setUp(body, init)) this.#adopt(new (original())(body as Body, init as Init));
  }

  /** Takes `body` and `init` when both are plain; false, with nothing kept, when undici must. */
  #setUp(body: unknown, init: unknown): boolean {
    const light = body instanceof JsonText ? ([body.text, JSON_TYPE] as const) : lightSource(body);
    if (light === undefined) return false;
    let status: unknown;
    let statusText: unknown;
    let headers: unknown;
    if (init !== undefined && init !== null) {
      if (typeof init !== "object") return false;
      ({ status, statusText, headers } = init as ResponseInit);
    }
    // Only a missing member takes the default: undici reads null as 0 and "null".
    if (status === undefined) status = 200;
    if (statusText === undefined) statusText = "";
    if (typeof status !== "number" || !Number.isInteger(status) || status < 200 || status > 599) return false;
    if (typeof statusText !== "string" || (statusText !== "" && !REASON_PHRASE.test(statusText)))
      return false;
    const [source, type] = light;
    // A body with a null-body status is undici's TypeError.
    if (source !== null && (status === 204 || status === 205 || status === 304)) return false;
    let made: Headers | undefined;
    if (headers !== undefined) {
      if (typeof headers !== "object" || headers === null) return false;
      try {
        made = new Headers(headers as ConstructorParameters<typeof Headers>[0]);
      } catch {
        return false;
      }
      if (type !== null && !made.has("content-type")) made.append("content-type", type);
    }
    this.#source = source;
    this.#type = type;
    this.#status = status;
    this.#statusText = statusText;
    this.#headers = made;
    return true;
  }

  /** From now on this instance is a face of `real`. */
  #adopt(real: Response): void {
    this.#real = real;
    this.#headers = real.headers;
    this.#status = real.status;
    this.#statusText = real.statusText;
  }

  #materialize(): Response {
    if (this.#real !== undefined) return this.#real;
    if (materializeChannel.hasSubscribers) materializeChannel.publish({ response: this });
    const type = this.#type;
    const real = new (original())(this.#source, {
      status: this.#status,
      statusText: this.#statusText,
      headers: this.#headers ?? (type === null ? [] : [["content-type", type]]),
    });
    // The app never saw headers: undici's own can be this instance's from now on.
    this.#headers ??= real.headers;
    // Sent by the adapter: consumed, as undici's body is once read.
    if (this.#used) real.arrayBuffer().catch(() => undefined);
    return (this.#real = real);
  }

  /** The real Response holding the headers the app sees (undici's blob(), formData() and clone() read them). */
  #synced(): Response {
    const real = this.#materialize();
    const headers = this.#headers;
    if (headers !== undefined && headers !== real.headers) copyHeaders(headers, real.headers);
    return real;
  }

  get status(): number {
    return this.#status;
  }

  get statusText(): string {
    return this.#statusText;
  }

  get ok(): boolean {
    return this.#status >= 200 && this.#status <= 299;
  }

  get headers(): Headers {
    return (this.#headers ??= new Headers(this.#type === null ? [] : [["content-type", this.#type]]));
  }

  // The constructor never makes a redirect's or a network response: these are constants.
  get type(): Response["type"] {
    return "default";
  }

  get url(): string {
    return "";
  }

  get redirected(): boolean {
    return false;
  }

  get body(): Response["body"] {
    if (this.#real === undefined && this.#source === null) return null;
    return this.#materialize().body;
  }

  get bodyUsed(): boolean {
    return this.#real === undefined ? this.#used : this.#real.bodyUsed;
  }

  [inspect.custom](depth: number, options: InspectOptions): string {
    if (this.#real !== undefined) return inspect(this.#real, options);
    const shown = { status: this.status, statusText: this.statusText, headers: this.headers, ok: this.ok };
    return `Response (lightweight) ${inspect(shown, { ...options, depth: options.depth == null ? null : depth - 1 })}`;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    // A subclass keeps the ordinary check; the global also owns undici's instances.
    if (this !== Lightweight) return Function.prototype[Symbol.hasInstance].call(this, value);
    return value instanceof original();
  }

  static json(...args: unknown[]): Response {
    let text: string | undefined;
    try {
      text = args.length === 0 ? undefined : JSON.stringify(args[0]);
    } catch {
      text = undefined;
    }
    const response = new Lightweight();
    // Whatever undici refuses (no data, a value JSON cannot take, a bad or null init), it throws itself.
    if (text === undefined || args[1] === null || !response.#setUp(new JsonText(text), args[1])) {
      return Reflect.apply(undiciStatic("json"), original(), args);
    }
    return response as unknown as Response;
  }

  // A redirect's headers are immutable, an error is a network error: undici's own, as they are.
  static redirect(...args: unknown[]): Response {
    return Reflect.apply(undiciStatic("redirect"), original(), args);
  }

  static error(): Response {
    return original().error();
  }

  static {
    claim = (response) => {
      if (typeof response !== "object" || response === null || !(#source in response)) return undefined;
      const source = response.#source;
      if (response.#real !== undefined || response.#used || source instanceof Blob) return undefined;
      response.#used = source !== null;
      return {
        status: response.#status,
        statusText: response.#statusText,
        headers: response.#headers ?? null,
        type: response.#type,
        body: source,
      };
    };
    wire = () => {
      wired = true;
      const undiciClass = original();
      forwardTheRest(
        this.prototype,
        undiciClass.prototype,
        (self) => (self as Lightweight).#materialize(),
        (self) => (self as Lightweight).#synced(),
      );
      Object.setPrototypeOf(this, undiciClass);
    };
    Object.defineProperty(this, "name", { value: "Response" });
    for (const name of ["json", "redirect", "error"]) Object.defineProperty(this, name, { enumerable: true });
  }
}

/** The light class, typed as the global it stands for. */
export const LightResponse = Lightweight as unknown as typeof Response;

/**
 * The parts of a light Response never materialised whose body is a string, bytes or null, its
 * body now marked used; undefined for any other Response (send that one as undici's).
 * @example
 * const parts = claimLight(response);
 * if (parts !== undefined) res.end(parts.body); // no web stream was made
 */
export function claimLight(response: unknown): LightParts | undefined {
  return claim(response);
}

/**
 * Makes `globalThis.Response` the light class (a worker does it before it loads the app).
 * @example
 * installLightResponse();
 * new Response("hi") instanceof Response; // true, and no web stream was made
 */
export function installLightResponse(): void {
  originalGlobal ??= Object.getOwnPropertyDescriptor(globalThis, "Response");
  const settle = (value: unknown): void => {
    Object.defineProperty(globalThis, "Response", {
      value,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  };
  // An accessor until first touched, as Node's own global is: an app that never touches
  // `Response` never loads undici.
  Object.defineProperty(globalThis, "Response", {
    configurable: true,
    enumerable: false,
    get: installed,
    set: settle,
  });
  function installed(): typeof Response {
    if (!wired) wire();
    settle(LightResponse);
    return LightResponse;
  }
  installedGetter = installed;
}

/** The accessor installLightResponse left on the global, until the global is first read. */
let installedGetter: (() => unknown) | undefined;

/**
 * Puts undici's Response back as the global, if the light class is still there.
 * @example
 * restoreResponse(); // a handler app: the Responses it makes from now on are undici's
 */
export function restoreResponse(): void {
  const current = Object.getOwnPropertyDescriptor(globalThis, "Response");
  const ours =
    current?.value === LightResponse || (current?.get !== undefined && current.get === installedGetter);
  if (!ours || originalGlobal === undefined) return;
  Object.defineProperty(globalThis, "Response", originalGlobal);
}
