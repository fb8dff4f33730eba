import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { requestUrl } from "../../src/worker/fetch/index.ts";

/** What requestUrl reads of an IncomingMessage. */
function message(url: string, hosts: readonly string[], version = "1.1"): IncomingMessage {
  const [major, minor] = version.split(".").map(Number);
  return {
    url,
    headers: hosts.length === 0 ? {} : { host: hosts[0] },
    rawHeaders: hosts.flatMap((host) => ["Host", host]),
    httpVersionMajor: major,
    httpVersionMinor: minor,
  } as unknown as IncomingMessage;
}

const urlOf = (url: string, ...hosts: string[]): string => requestUrl(message(url, hosts));

describe("the URL a fetch handler sees", () => {
  it("is http:// + Host + path for ordinary requests, as WHATWG URL would serialise it", () => {
    assert.equal(urlOf("/", "127.0.0.1:8080"), "http://127.0.0.1:8080/");
    assert.equal(urlOf("/a/b?c=1&d=%20", "example.com"), "http://example.com/a/b?c=1&d=%20");
    assert.equal(urlOf("/x", "Example.COM:80"), "http://example.com/x");
    assert.equal(urlOf("/x", "[::1]:3000"), "http://[::1]:3000/x");
    assert.equal(urlOf("/a/../b/./c", "h"), "http://h/b/c");
    assert.equal(urlOf("/a/%2e%2E/b", "h"), "http://h/b");
    assert.equal(urlOf("/a b|c", "h"), "http://h/a%20b|c");
    assert.equal(urlOf("//evil.example/x", "h"), "http://h//evil.example/x");
    assert.equal(urlOf("/q?a\\b", "h"), "http://h/q?a\\b");
  });

  it("equals new URL(...).href on its fast path", () => {
    const paths = ["/", "/a", "/a/b/c.json", "/x?y=1&z=[2]", "/~u/!$&()*+,;=:@", "/%41%zz", "/..a/.b./"];
    for (const host of ["h", "a.example:8080", "127.0.0.1"]) {
      for (const path of paths) assert.equal(urlOf(path, host), new URL(`http://${host}${path}`).href, path);
    }
  });

  it("refuses a Host that is not an RFC 3986 host with an optional port", () => {
    for (const host of [
      "example.com/admin?",
      "example.com?",
      "example.com#",
      "a@b",
      "a\\b",
      "a b",
      "a%2fb",
      "h:99999",
      "[::1",
      "[zz::1]",
      "h:8080:1",
      ":80",
    ]) {
      assert.equal(urlOf("/public", host), "Invalid host header", JSON.stringify(host));
    }
  });

  it("refuses a missing or empty Host in HTTP/1.1 and a repeated one; HTTP/1.0 may omit it", () => {
    assert.equal(urlOf("/", ""), "Invalid host header");
    assert.equal(requestUrl(message("/", [])), "Invalid host header");
    assert.equal(urlOf("/", "a", "a"), "Invalid host header");
    assert.equal(requestUrl(message("/x", [], "1.0")), "http://localhost/x");
    assert.equal(requestUrl(message("/x", ["h"], "1.0")), "http://h/x");
  });

  it("takes an absolute-form target's authority and ignores Host, with the http scheme", () => {
    assert.equal(urlOf("http://example.com/admin", "other"), "http://example.com/admin");
    assert.equal(urlOf("HTTP://Example.com", "other"), "http://example.com/");
    assert.equal(urlOf("http://example.com?q", "other"), "http://example.com/?q");
    assert.equal(urlOf("http://user@example.com/", "other"), "Invalid host header");
    assert.equal(urlOf("http://example.com\\admin/", "other"), "Invalid host header");
    assert.equal(urlOf("ftp://example.com/", "other"), "Invalid request target");
    assert.equal(urlOf("*", "h"), "Invalid request target");
  });

  it("refuses an absolute-form target without Host in HTTP/1.1, with two Host lines or an invalid one, as Node and nginx do: the URL ignores Host, the request still needs it (RFC 9112 §3.2)", () => {
    assert.equal(requestUrl(message("http://example.com/x", [])), "Invalid host header");
    assert.equal(urlOf("http://example.com/x", "a", "b"), "Invalid host header");
    assert.equal(urlOf("http://example.com/x", "a/b?"), "Invalid host header");
    // An empty one too, as nginx answers it; HTTP/1.0 may omit it.
    assert.equal(urlOf("http://example.com/x", ""), "Invalid host header");
    assert.equal(urlOf("http://example.com/x", "other"), "http://example.com/x");
    assert.equal(requestUrl(message("http://example.com/x", [], "1.0")), "http://example.com/x");
  });

  it("refuses an absolute-form https:// target, which a plain-HTTP worker does not serve (stop 26)", () => {
    assert.equal(urlOf("https://example.com:8443/x?y", "other"), "Invalid request target");
    assert.equal(urlOf("HTTPS://example.com/", "other"), "Invalid request target");
  });

  it("refuses a backslash in the path, which WHATWG URL would read as a slash", () => {
    assert.equal(urlOf("/public\\..\\admin", "h"), "Invalid request target");
    assert.equal(urlOf("/a\\b?c", "h"), "Invalid request target");
  });
});
