/**
 * A thrown value's message, for a one-line report: an Error's `message`, anything else as a
 * string. Never throws (user code may throw from getters or `toString`).
 * @example
 * errorMessage(new Error("no such file")); // "no such file"
 * errorMessage("stopped"); // "stopped"
 */
export function errorMessage(error: unknown): string {
  try {
    if (error instanceof Error) {
      const message: unknown = error.message;
      return typeof message === "string" ? message : String(message);
    }
    return typeof error === "string" ? error : String(error);
  } catch {
    return "(unprintable value thrown)";
  }
}
