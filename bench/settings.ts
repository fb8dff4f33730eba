/** The benchmarks' settings from the environment. */

/**
 * The items of `all` that the environment variable `name` lists, separated by `separator` (all of
 * them when it is unset or empty); an item that is not one of `all` is refused, naming them.
 */
export function listOf<T extends string | number>(
  name: string,
  all: readonly T[],
  separator = ",",
): readonly T[] {
  const wanted = process.env[name];
  if (wanted === undefined || wanted === "") return all;
  return wanted.split(separator).map((item) => {
    const found = all.find((one) => String(one) === item.trim());
    if (found === undefined)
      throw new Error(`${name}: ${JSON.stringify(item)} is not one of ${all.join(`${separator} `)}`);
    return found;
  });
}
