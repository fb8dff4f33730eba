/**
 * The first of `keys` that `module` exports by name while its default export has nothing under
 * that key: a hook or setting written as a named export (`export const workers = 4` beside
 * `export default {}`), which a reader of the default export alone would ignore. A default export
 * that has the key (the same value, or one built from the named export) is the user's choice.
 */
export function namedOnly(
  module: Readonly<Record<string, unknown>>,
  keys: readonly string[],
): string | undefined {
  const main = module["default"];
  const carried = (key: string): boolean =>
    typeof main === "object" && main !== null && (main as Record<string, unknown>)[key] !== undefined;
  return keys.find((key) => module[key] !== undefined && !carried(key));
}

/** What to do of a default export that is a Promise (promisedDefault). */
export const AWAIT_DEFAULT = "await it (export default await …) or export the value it resolves to";

/**
 * Whether a module's default export is a Promise (or another thenable) instead of the value
 * itself (`export default loadConfig()` without `await`): said as such, with AWAIT_DEFAULT, where
 * it was refused as any object of the wrong kind ("received an object (Promise)").
 */
export function promisedDefault(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  try {
    return typeof (value as { then?: unknown }).then === "function";
  } catch {
    return false; // a Proxy whose trap throws: refused as what it is
  }
}
