/**
 * A bound on what a child can make the master hold on its IPC channel. Node's advanced
 * serialization reads a message's 4-byte length and keeps every byte until the whole message is
 * in: a worker of `config.user` that announced 4 GiB and sent it grew a root master by as much
 * (200 MB in a probe, kept while the slot's status answers waited behind it). Node has no option
 * for a bound, so the master looks at what the channel holds after each read, through the two
 * symbols of Node's own (`kChannelHandle` on the child, `kMessageBufferSize` on its handle; the
 * same in Node 20 and 24), found by name.
 */
import type { ChildProcess } from "node:child_process";

/** The most one message from a child may hold: init's data travels in one (a structured clone). */
export const MAX_CHANNEL_MESSAGE_BYTES = 128 * 1024 * 1024;

type Onread = (this: object, ...args: unknown[]) => unknown;

function ownSymbol(value: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(value).find((s) => s.description === description);
}

/**
 * Calls `onOver` (once) when the part of a message `child` has sent passes `maxBytes`; the caller
 * kills the child, which frees what was held. False when this Node's channel is not as expected
 * (no bound then).
 */
export function capChannel(child: ChildProcess, maxBytes: number, onOver: (held: number) => void): boolean {
  const handleKey = ownSymbol(child, "kChannelHandle");
  const handle: unknown =
    handleKey === undefined ? undefined : (child as unknown as Record<symbol, unknown>)[handleKey];
  if (typeof handle !== "object" || handle === null) return false;
  const sizeKey = ownSymbol(handle, "kMessageBufferSize");
  const { onread } = handle as { onread?: unknown };
  if (sizeKey === undefined || typeof onread !== "function") return false;
  const read = onread as Onread;
  let over = false;
  (handle as { onread: Onread }).onread = function (this: object, ...args: unknown[]): unknown {
    const result = read.apply(this, args);
    const held = (this as Record<symbol, unknown>)[sizeKey];
    if (!over && typeof held === "number" && held > maxBytes) {
      over = true;
      onOver(held);
    }
    return result;
  };
  return true;
}
