/**
 * Dresses a lazy stand-in as one of undici's classes (request.ts, light-response.ts): every
 * member of undici's prototype that the stand-in does not define forwards to the real object,
 * made on demand, whichever members this Node's undici has. undici's getters and methods check
 * that `this` is one of theirs, hence the forwarding rather than inheritance alone.
 */

/**
 * Forwards what `own` lacks of `original` to `real(this)` (methods to `forMethods(this)`), keeps
 * `original`'s enumerability on what `own` shadows, and puts `original` under `own`.
 * @example
 * forwardTheRest(Stand.prototype, Request.prototype, (self) => (self as Stand).real());
 */
export function forwardTheRest(
  own: object,
  original: object,
  real: (self: unknown) => object,
  forMethods: (self: unknown) => object = real,
): void {
  for (const key of Reflect.ownKeys(original)) {
    const descriptor = Object.getOwnPropertyDescriptor(original, key);
    if (key === "constructor" || descriptor === undefined) continue;
    const enumerable = descriptor.enumerable ?? false;
    const mine = Object.getOwnPropertyDescriptor(own, key);
    if (mine !== undefined) {
      // for…in over the stand-in lists the names undici's object would.
      Object.defineProperty(own, key, { ...mine, enumerable });
      continue;
    }
    // (PropertyDescriptor types its getter as a method.)
    const get = Reflect.get(descriptor, "get") as (() => unknown) | undefined;
    const value: unknown = descriptor.value;
    if (get !== undefined) {
      Object.defineProperty(own, key, {
        configurable: true,
        enumerable,
        get(this: unknown): unknown {
          return Reflect.apply(get, real(this), []);
        },
      });
    } else if (typeof value === "function") {
      const method = value as (...args: unknown[]) => unknown;
      Object.defineProperty(own, key, {
        configurable: true,
        enumerable,
        writable: true,
        value(this: unknown, ...args: unknown[]): unknown {
          return Reflect.apply(method, forMethods(this), args);
        },
      });
    }
  }
  Object.setPrototypeOf(own, original);
}
