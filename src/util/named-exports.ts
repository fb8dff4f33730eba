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
