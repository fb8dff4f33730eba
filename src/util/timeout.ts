/**
 * The one helper for "this promise, or a named timeout" (STYLE.md #11): resolves with
 * `{ done: true, value }` when `promise` settles in time, `{ done: false }` when `ms` pass first.
 * A rejection passes through. The timer keeps the process alive, so the bound fires even when
 * nothing else would (a promise that never settles must not end the process in silence).
 */
export async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
): Promise<{ readonly done: true; readonly value: T } | { readonly done: false }> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<{ readonly done: false }>((resolve) => {
    timer = setTimeout(() => {
      resolve({ done: false });
    }, ms);
  });
  try {
    return await Promise.race([promise.then((value) => ({ done: true as const, value })), expired]);
  } finally {
    clearTimeout(timer);
  }
}
