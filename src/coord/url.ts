/**
 * A coordinator URL as logs and errors show it: its password replaced by `***`. Apart from the
 * gate, so that a process can name its coordinator without loading the Redis client.
 * @example
 * redactedUrl("redis://jobs:secret@cache:6379/0"); // "redis://jobs:***@cache:6379/0"
 */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== "") parsed.password = "***";
    return parsed.href;
  } catch {
    return url;
  }
}
