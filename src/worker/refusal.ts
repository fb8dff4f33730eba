/**
 * Node's answer to a request it refuses before any handler runs (lib/_http_server.js,
 * socketOnError, the same on Node 20 and 24): the status its parser's error code or its timeout
 * calls for, as `HTTP/1.1 <status> <reason>` with `Connection: close` and nothing else. The
 * worker makes it itself (http.ts, a "clientError" listener) so that the access log has its line;
 * the bytes on the wire stay Node's.
 */
import { STATUS_CODES } from "node:http";

export interface Refusal {
  readonly status: number;
  readonly bytes: Buffer;
}

/** The status of Node's answer to the refusal with `code`. */
function statusOf(code: string | undefined): number {
  switch (code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return 408;
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return 413;
    case "HPE_HEADER_OVERFLOW":
      return 431;
    default:
      return 400;
  }
}

/** The answer to a refusal with error `code`. */
export function refusal(code: string | undefined): Refusal {
  const status = statusOf(code);
  const head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nConnection: close\r\n\r\n`;
  return { status, bytes: Buffer.from(head, "latin1") };
}
