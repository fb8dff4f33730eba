/**
 * A timer for any delay up to 2^32-1 ms (OpenResty's timeout range). Node's setTimeout caps at
 * 2^31-1 ms and turns anything longer into 1 ms, so longer delays are waited in steps.
 */
const STEP_MS = 2 ** 31 - 1;

export function longTimeout(fn: () => void, ms: number): () => void {
  let timer: NodeJS.Timeout;
  const arm = (left: number): void => {
    timer = setTimeout(
      () => {
        if (left > STEP_MS) arm(left - STEP_MS);
        else fn();
      },
      Math.min(left, STEP_MS),
    );
  };
  arm(ms);
  return () => {
    clearTimeout(timer);
  };
}
