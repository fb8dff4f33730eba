import { PipeProcess } from "./process.ts";
import type { SpawnOptions } from "./options.ts";

export {
  PipeProcess,
  type BytesResult,
  type LineResult,
  type SimpleResult,
  type WaitResult,
  type WriteResult,
} from "./process.ts";
export type { SpawnOptions } from "./options.ts";
export type { ReadFailure, ReadResult } from "./reader.ts";
export { run, type ShellOptions, type ShellResult } from "./shell.ts";
export { endGroup, endLiveGroups, EXIT_CHANNEL, liveGroups, SPAWN_CHANNEL } from "./group.ts";

/**
 * `ngx.pipe.spawn`: starts `args` (an argv array, run directly, or a string, run by `sh -c`).
 * @example
 * const proc = ngx.pipe.spawn(["echo", "hello world"]);
 * const line = await proc.stdoutReadLine(); // { ok: true, data: "hello world" }
 */
export function spawn(args: readonly string[] | string, options?: SpawnOptions): PipeProcess {
  return new PipeProcess(args, options);
}
