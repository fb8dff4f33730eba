/** The longest wait one setTimeout honours (about 24.8 days); past it, Node fires after 1 ms. */
const STEP_MS = 2 ** 31 - 1;

/**
 * Calls `fn` once, after `ms` milliseconds, however long: the one answer here to setTimeout's
 * bound, a longer delay is waited in steps. Returns the cancel. `unref`: the timer does not keep
 * the process alive.
 * @example
 * const cancel = longTimeout(kill, 30 * 24 * 3600 * 1000); // after 30 days, not after 1 ms
 */
export function longTimeout(
  fn: () => void,
  ms: number,
  options: { readonly unref?: boolean } = {},
): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = setTimeout(
      () => {
        if (left > STEP_MS) arm(left - STEP_MS);
        else fn();
      },
      Math.min(left, STEP_MS),
    );
    if (options.unref === true) timer.unref();
  };
  arm(ms);
  return () => {
    clearTimeout(timer);
  };
}
