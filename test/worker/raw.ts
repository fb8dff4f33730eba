import { connect } from "node:net";

/** A parsed HTTP/1.1 response: status, lower-cased header lines (repeats kept), body as sent. */
export interface RawResponse {
  readonly status: number;
  /** The status line as latin1 text (each byte one character). */
  readonly statusLine: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: string;
  header(name: string): string | undefined;
}

export function parseResponse(text: string): RawResponse {
  const end = text.indexOf("\r\n\r\n");
  const [statusLine = "", ...lines] = text.slice(0, end === -1 ? text.length : end).split("\r\n");
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(":");
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
  });
  return {
    status: Number(statusLine.split(" ")[1]),
    statusLine,
    headers,
    body: end === -1 ? "" : text.slice(end + 4),
    header: (name) => headers.find(([n]) => n === name)?.[1],
  };
}

/**
 * Sends `request` as written (so that a test can forge what fetch() would refuse: a bad Host, an
 * absolute-form target) and resolves with everything the server sent until it closed, at most
 * `ms` later.
 */
export function rawRequest(port: number, request: string, ms = 10_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no end of response within ${ms} ms; got ${JSON.stringify(text)}`));
    }, ms);
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(parseResponse(text));
    });
  });
}
