/**
 * Issue 13 item 3: what SIGTERM to the master means (config `signals.term`). Platforms stop a
 * service with TERM and KILL it after a grace period; with "graceful" (the default) a request
 * in flight when TERM arrives still gets its whole response, with "fast" (nginx's TERM) it is cut.
 */
import assert from "node:assert/strict";
import { request } from "node:http";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runTsresty } from "../helpers/processes.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { startTree, type Tree } from "../helpers/tree.ts";

const APP = `
export default {
  async fetch(req: Request) {
    process.stdout.write("request in flight\\n");
    await ngx.sleep(1.5);
    return new Response("the whole body, after 1.5 s");
  },
};
`;

type Outcome = { status: number; body: string } | { error: string };

/** One GET on its own connection; a connection cut before the response ends is an error. */
function getOnce(url: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", (error) => resolve({ error: error.message }));
    });
    req.on("error", (error) => resolve({ error: error.message }));
    req.end();
  });
}

/** A tree of one worker with `config` (a config file's text, or none). */
async function treeWith(config: string | null): Promise<Tree> {
  const dir = scratchApp({ "app.ts": APP, "c.ts": config ?? "export default {};\n" });
  return startTree(join(dir, "app.ts"), {
    workers: 1,
    args: config === null ? [] : ["--config", join(dir, "c.ts")],
  });
}

/** Sends TERM to the master while a request is in flight; the request's outcome and the master's exit. */
async function termDuringRequest(tree: Tree): Promise<{ outcome: Outcome; code: number | null }> {
  const pending = getOnce(tree.url("/"));
  await tree.run.waitForOutput("request in flight");
  process.kill(tree.masterPid, "SIGTERM");
  const outcome = await pending;
  const done = await tree.run.done;
  return { outcome, code: done.code };
}

describe("SIGTERM to the master: signals.term", () => {
  it('with signals.term "graceful", TERM during a slow request lets it finish: 200 with its whole body', async () => {
    const tree = await treeWith(`export default { signals: { term: "graceful" } };\n`);
    const { outcome, code } = await termDuringRequest(tree);
    assert.deepEqual(outcome, { status: 200, body: "the whole body, after 1.5 s" });
    assert.equal(code, 0);
    assert.match(tree.run.stderr(), /gracefully shutting down/);
  });

  it("by default TERM is graceful: the request in flight finishes", async () => {
    const tree = await treeWith(null);
    const { outcome, code } = await termDuringRequest(tree);
    assert.deepEqual(outcome, { status: 200, body: "the whole body, after 1.5 s" });
    assert.equal(code, 0);
  });

  it('with signals.term "fast", TERM during a slow request cuts it (as nginx; curl exits 52)', async () => {
    const tree = await treeWith(`export default { signals: { term: "fast" } };\n`);
    const { outcome, code } = await termDuringRequest(tree);
    assert.ok("error" in outcome, `the request was not cut: ${JSON.stringify(outcome)}`);
    assert.equal(code, 0);
    assert.match(tree.run.stderr(), /: shutting down$/m);
  });

  it("a signals.term that is neither graceful nor fast fails the start with the key and the values", async () => {
    const dir = scratchApp({ "app.ts": APP, "c.ts": `export default { signals: { term: "nice" } };\n` });
    const done = await runTsresty(
      [
        "start",
        join(dir, "app.ts"),
        "--config",
        join(dir, "c.ts"),
        "--listen",
        "127.0.0.1:0",
        "--prefix",
        join(dir, "p"),
      ],
      { deadlineMs: 60_000 },
    );
    assert.notEqual(done.code, 0);
    assert.match(
      done.stderr,
      /signals\.term must be "graceful" \(as QUIT\) or "fast" \(as INT\), received a string \("nice"\)/,
    );
    assert.doesNotMatch(done.stdout, /tsresty ready/);
  });
});
