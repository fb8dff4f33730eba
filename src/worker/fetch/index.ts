/**
 * Serves a web-standard `fetch(Request) => Response` handler on node:http, at close to the cost of
 * a plain `(req, res)` handler: the Request is built lazily (request.ts), the app's Responses are
 * light ones that make no web stream (light-response.ts, installed by the worker), a body that is
 * already complete goes out in one write (response.ts), and the URL is validated first
 * (target.ts), so that a forged Host header is a 400 and never reaches the app.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { LogSink } from "../../util/log.ts";
import { incomingRequest } from "./request.ts";
import { sendLight, writeResponse } from "./response.ts";
import { isRefusal, requestUrl, type TargetRefusal } from "./target.ts";

export {
  installLightResponse,
  LightResponse,
  MATERIALIZE_CHANNEL,
  restoreResponse,
} from "./light-response.ts";
export { requestUrl, type TargetRefusal } from "./target.ts";

type Fetch = (request: Request) => Response | Promise<Response>;
type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** A client's mistake, answered and logged at info as nginx does (an error-level line per bad request would let any client flood the log). */
export function refuseTarget(
  req: IncomingMessage,
  res: ServerResponse,
  reason: TargetRefusal,
  log: LogSink,
): void {
  log(
    "info",
    `client sent ${reason.toLowerCase()}: ${JSON.stringify(req.headers.host ?? "")} ${JSON.stringify(req.url ?? "")}`,
  );
  const body = `${reason}\n`;
  res.writeHead(400, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    connection: "close",
  });
  res.end(body);
}

/**
 * The node:http listener for a fetch handler; `failed` answers and logs an error of the app's.
 * @example
 * const server = createServer(fetchListener(() => new Response("hi\n"), failed, log));
 */
export function fetchListener(
  fetch: Fetch,
  failed: (res: ServerResponse, error: unknown) => void,
  log: LogSink,
): Listener {
  return (req, res) => {
    const url = requestUrl(req);
    if (isRefusal(url)) {
      refuseTarget(req, res, url, log);
      return;
    }
    let response: Response | Promise<Response>;
    let ready: Response | undefined;
    try {
      response = fetch(incomingRequest(req, res, url));
      // A light Response with its body at hand (the common case) goes out now, in one write.
      if (sendLight(response, res)) return;
      // May throw too: the prototype of a revoked Proxy cannot be read.
      ready = response instanceof Response ? response : undefined;
    } catch (error) {
      failed(res, error);
      return;
    }
    // Any other Response skips a promise turn. (No closure is bound to a name on this path: see
    // keepNames in scripts/build.mjs.)
    if (ready !== undefined)
      writeResponse(ready, res).catch((error: unknown) => {
        failed(res, error);
      });
    else
      Promise.resolve(response)
        .then((value) => writeResponse(value, res))
        .catch((error: unknown) => {
          failed(res, error);
        });
  };
}
