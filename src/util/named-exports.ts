/**
 * The first of `keys` that `module` exports by name while its default export does not carry that
 * same value under that key: a hook or setting written as a named export (`export const workers
 * = 4` beside `export default {}`), which a reader of the default export alone would ignore.
 */
export function namedOnly(
  module: Readonly<Record<string, unknown>>,
  keys: readonly string[],
): string | undefined {
  const main = module["default"];
  const carried = (key: string): boolean =>
    typeof main === "object" && main !== null && (main as Record<string, unknown>)[key] === module[key];
  return keys.find((key) => module[key] !== undefined && !carried(key));
}
