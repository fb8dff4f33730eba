/**
 * The status of the HTTP head an app writes itself on an upgraded socket, for the access log: `ws`
 * writes `HTTP/1.1 101 Switching Protocols` for a session it begins, `HTTP/1.1 400 Bad Request`
 * for a handshake it refuses, and the worker its own 500 or 503 (upgrade.ts). Node never sees that
 * head: the socket is the app's once the "upgrade" event is emitted.
 *
 * The first bytes are looked at where every write of a socket passes (`_write`, `_writev`: a
 * `write()`, an `end(data)`, a pipe, corked writes alike), on the socket itself, which gets its
 * own class's methods back as soon as the status line's first 12 bytes have gone by: the frames
 * of the session that follows cost nothing.
 */
import type { Socket } from "node:net";

/** `HTTP/1.1 101`: what is needed to know the status. */
const NEEDED = 12;
const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})$/;

type Chunk = string | Uint8Array;
type Callback = (error?: Error | null) => void;
/** The two methods the socket's writes go through, on the socket itself while it is watched. */
interface Watched {
  _write: (this: Watched, chunk: Chunk, encoding: BufferEncoding, callback: Callback) => void;
  _writev: (this: Watched, chunks: { chunk: Chunk; encoding: BufferEncoding }[], callback: Callback) => void;
}

/**
 * Calls `seen` once with the status of the head written first to `socket` from now on: a number
 * from its status line, or 0 when its first bytes are not one (nginx logs such a request
 * `000`). Not called when nothing is written before the socket closes.
 * @example
 * watchStatus(socket, (status) => (line.status = status)); // 101 once ws has written its answer
 */
export function watchStatus(socket: Socket, seen: (status: number) => void): void {
  const own = socket as unknown as Watched;
  const { _write: write, _writev: writev } = own;
  let start = "";
  /** Takes in the start of `chunk`; true once the status is known (the socket then is as before). */
  const look = (chunk: Chunk, encoding: BufferEncoding): boolean => {
    const rest = NEEDED - start.length;
    const part = typeof chunk === "string" ? Buffer.from(chunk.slice(0, rest), encoding) : chunk;
    start += Buffer.from(part.buffer, part.byteOffset, Math.min(rest, part.byteLength)).toString("latin1");
    const done = start.length >= NEEDED || !"HTTP/".startsWith(start.slice(0, 5));
    if (!done) return false;
    // Newest first: V8 then takes the socket back to the shape it had (else: a slower dictionary).
    Reflect.deleteProperty(own, "_writev");
    Reflect.deleteProperty(own, "_write");
    seen(Number(STATUS_LINE.exec(start)?.[1] ?? 0));
    return true;
  };
  own._write = function (chunk, encoding, callback) {
    look(chunk, encoding);
    write.call(this, chunk, encoding, callback);
  };
  own._writev = function (chunks, callback) {
    for (const { chunk, encoding } of chunks) if (look(chunk, encoding)) break;
    writev.call(this, chunks, callback);
  };
}
