/**
 * The bodies a light Response keeps as they are (light-response.ts), and the content type undici
 * gives each. Anything else is undici's to take: a stream, FormData, shared or resizable memory.
 */
// The content types undici gives each kind of body (fetch spec, "extract a body").
const TEXT = "text/plain;charset=UTF-8";
const FORM = "application/x-www-form-urlencoded;charset=UTF-8";

export type Source = string | Uint8Array | Blob | null;

/** A copy of the bytes (undici copies them too: later writes to the caller's buffer do not show). */
function bytesOf(body: ArrayBuffer | ArrayBufferView): Uint8Array | undefined {
  const buffer = ArrayBuffer.isView(body) ? body.buffer : body;
  // Shared or resizable memory is undici's to take or refuse, with its own errors.
  if (!(buffer instanceof ArrayBuffer) || (buffer as { resizable?: boolean }).resizable === true)
    return undefined;
  try {
    return ArrayBuffer.isView(body)
      ? new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice()
      : new Uint8Array(body).slice();
  } catch {
    return undefined; // detached: undici's error too
  }
}

/** Body kinds kept light, with their content type; undefined for what only undici takes. */
export function lightSource(body: unknown): [Source, string | null] | undefined {
  if (body === null || body === undefined) return [null, null];
  if (typeof body === "string") return [body, TEXT];
  if (typeof body !== "object") return undefined;
  if (body instanceof URLSearchParams) return [body.toString(), FORM];
  if (body instanceof Blob) return [body, body.type === "" ? null : body.type];
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
    const bytes = bytesOf(body);
    return bytes === undefined ? undefined : [bytes, null];
  }
  return undefined;
}
