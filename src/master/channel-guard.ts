/**
 * What a child can do to the master through its IPC channel, bounded. Node's advanced
 * serialization reads a message's 4-byte length and keeps every byte until the whole message is
 * in: a worker of `config.user` that announced 4 GiB and sent it grew a root master by as much
 * (200 MB in a probe, kept while the slot's status answers waited behind it). And a message it
 * cannot decode throws out of the channel's read, an uncaught exception in the master, once for
 * every such message a child sends. Node has no option for either, so the master wraps the
 * channel's read: it looks at what the channel holds after each read, and catches what the
 * decoding throws. It reaches them through two symbols of Node's own (`kChannelHandle` on the
 * child, `kMessageBufferSize` on its handle; the same in Node 20 and 24), found by name.
 */
import type { ChildProcess } from "node:child_process";
import { errorMessage } from "../util/error-message.ts";

/** The most one message from a child may hold: init's data travels in one (a structured clone). */
export const MAX_CHANNEL_MESSAGE_BYTES = 128 * 1024 * 1024;
/** The same bound, as messages name it. */
export const MAX_CHANNEL_MESSAGE_MB = MAX_CHANNEL_MESSAGE_BYTES / (1024 * 1024);

/** Why a child's channel is given up: the caller kills the child, which frees what was held. */
export type ChannelFault =
  | { readonly kind: "oversized"; readonly held: number }
  | { readonly kind: "unreadable"; readonly reason: string };

type Onread = (this: object, ...args: unknown[]) => unknown;

function ownSymbol(value: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(value).find((s) => s.description === description);
}

/**
 * Calls `onFault` (once) when the part of a message `child` has sent passes `maxBytes`, or when
 * a message cannot be decoded (the rest of that read is dropped: the child is being killed). False
 * when this Node's channel is not as expected (nothing is guarded then).
 */
export function guardChannel(
  child: ChildProcess,
  maxBytes: number,
  onFault: (fault: ChannelFault) => void,
): boolean {
  const handleKey = ownSymbol(child, "kChannelHandle");
  const handle: unknown =
    handleKey === undefined ? undefined : (child as unknown as Record<symbol, unknown>)[handleKey];
  if (typeof handle !== "object" || handle === null) return false;
  const sizeKey = ownSymbol(handle, "kMessageBufferSize");
  const { onread } = handle as { onread?: unknown };
  if (sizeKey === undefined || typeof onread !== "function") return false;
  const read = onread as Onread;
  let faulted = false;
  const fault = (what: ChannelFault): void => {
    if (faulted) return;
    faulted = true;
    onFault(what);
  };
  (handle as { onread: Onread }).onread = function (this: object, ...args: unknown[]): unknown {
    // Decoding runs here; the messages are emitted on a later tick, so what throws is the decoding.
    let result: unknown;
    try {
      result = read.apply(this, args);
    } catch (error) {
      fault({ kind: "unreadable", reason: errorMessage(error) });
      return undefined;
    }
    const held = (this as Record<symbol, unknown>)[sizeKey];
    if (typeof held === "number" && held > maxBytes) fault({ kind: "oversized", held });
    return result;
  };
  return true;
}

/** What the child did, for the master's alert: "sent …" (the child's label goes before it). */
export function describeFault(fault: ChannelFault): string {
  return fault.kind === "unreadable"
    ? `sent a message the master cannot read (${fault.reason})`
    : `sent ${fault.held} bytes of one message to the master, past the ${MAX_CHANNEL_MESSAGE_MB} MB a message may hold`;
}
