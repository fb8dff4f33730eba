/**
 * The URL a fetch handler sees, from the request line and the Host header, refusing what would
 * let a client rewrite it. Naive concatenation (`http://` + Host + path) is an injection: with
 * `Host: example.com/admin?` the path `/public` reads as `/admin`, so a path-based check in front
 * of the app is bypassed. RFC 9112 §3.2 asks for a 400 on an invalid or repeated Host, and on a
 * missing one in HTTP/1.1; absolute-form request lines (`GET http://h/p HTTP/1.1`) carry the
 * authority themselves and the URL then ignores the Host header (§3.2.2), which is still checked.
 *
 * The scheme is always `http`: the worker serves plain HTTP (TLS, if any, ends in front of it).
 */
import type { IncomingMessage } from "node:http";

/** Why a request line and Host make no URL; the text is the 400 response's body. */
export type TargetRefusal = "Invalid host header" | "Invalid request target";

export const isRefusal = (value: string): value is TargetRefusal =>
  value === "Invalid host header" || value === "Invalid request target";

// RFC 3986 §3.2.2: IP-literal ("[" IPv6 "]") or reg-name (IPv4 is a reg-name), then an optional port.
const HOST_SYNTAX = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::\d*)?$/;
// A path (and query) that WHATWG URL serialises unchanged: no dot segment, no percent-encoded dot,
// nothing it would encode (space " ' < > ` { } are refused by Node's parser or slow-pathed here).
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&()*+,;=:@/?%[\]]*$/;
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:[/?]|$)/i;
/** The worker serves plain HTTP: an absolute-form `https://` target is another scheme, refused. */
const ABSOLUTE_FORM = /^http:\/\/([^/?#]*)(.*)$/i;

/** Host header → serialised host (lowercased, default port dropped), or null when invalid. */
const hosts = new Map<string, string | null>();
/** Distinct Host values are few in normal traffic; a client cycling through them only evicts. */
const HOST_CACHE_SIZE = 64;

function normalHost(host: string): string | null {
  const known = hosts.get(host);
  if (known !== undefined) return known;
  let normal: string | null = null;
  if (HOST_SYNTAX.test(host)) {
    try {
      const url = new URL(`http://${host}/`);
      // A %-escape may decode to a delimiter; the host must still be the whole authority.
      if (url.pathname === "/" && url.search === "" && url.username === "" && url.host !== "") {
        normal = url.host;
      }
    } catch {
      // not a host WHATWG URL accepts (a bad port, an invalid IPv6 or IDN label)
    }
  }
  if (hosts.size >= HOST_CACHE_SIZE) hosts.clear();
  hosts.set(host, normal);
  return normal;
}

/** The URL, or a TargetRefusal. */
function joinUrl(host: string, path: string): string {
  const url = `http://${host}${path}`;
  if (PLAIN_PATH.test(path) && !DOT_SEGMENT.test(path)) return url;
  // WHATWG URL reads "\" as "/" in http URLs: `/public\..\admin` would be `/admin` to the app and
  // `/public…` to a proxy in front. Refused before the query, as @hono/node-server does.
  const query = path.indexOf("?");
  const backslash = path.indexOf("\\");
  if (backslash !== -1 && (query === -1 || backslash < query)) return "Invalid request target";
  try {
    return new URL(url).href;
  } catch {
    return "Invalid request target";
  }
}

function hostHeaderCount(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === "host") count++;
  }
  return count;
}

/**
 * The request's URL, or why there is none (a TargetRefusal: test it with `isRefusal`).
 * @example
 * const url = requestUrl(req); // "http://example.com/a?b=1", or "Invalid host header"
 */
export function requestUrl(req: IncomingMessage): string {
  const target = req.url ?? "";
  if (target.charCodeAt(0) !== 47 /* "/" */) {
    const absolute = ABSOLUTE_FORM.exec(target);
    if (absolute === null) return "Invalid request target"; // "*" of OPTIONS, or garbage
    // The URL ignores Host, but a request must still have one, valid and alone (RFC 9112 §3.2,
    // as Node and nginx refuse it; an empty one too, as nginx and an origin-form request here):
    // a missing one was served, Node's own check being off.
    const header = req.headers.host;
    if (header === undefined) {
      if (req.httpVersionMinor !== 0 || req.httpVersionMajor !== 1) return "Invalid host header";
    } else if (normalHost(header) === null || hostHeaderCount(req.rawHeaders) !== 1) {
      return "Invalid host header";
    }
    const host = normalHost(absolute[1] ?? "");
    if (host === null) return "Invalid host header";
    const rest = absolute[2] ?? "";
    return joinUrl(host, rest.startsWith("/") ? rest : `/${rest}`);
  }
  const header = req.headers.host;
  if (header === undefined || header === "") {
    // HTTP/1.0 has no Host; HTTP/1.1 must send one (Node already refuses a missing one).
    return req.httpVersionMinor === 0 && req.httpVersionMajor === 1
      ? joinUrl("localhost", target)
      : "Invalid host header";
  }
  const host = normalHost(header);
  // Node keeps the first of several Host lines; a proxy in front may have read another.
  if (host === null || hostHeaderCount(req.rawHeaders) !== 1) return "Invalid host header";
  return joinUrl(host, target);
}
