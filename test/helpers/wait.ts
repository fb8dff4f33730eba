/**
 * Waiting without a fixed time: a liveness check and a poll. A leaf with no side effects, so that
 * fixture scripts and the benches (which are not tests) may use it as the tests do (tree.ts
 * re-exports both).
 */

/** Whether a pid still exists (a zombie its parent has not reaped yet counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until `check()` holds, polling every 20 ms, for at most `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}
