/**
 * The master's Prometheus `/metrics` (config `metrics`), against a real tree: what it shows matches
 * `tsresty status --json`, it parses (test/helpers/prom-text.ts, a promtool equivalent) after a
 * reload and after a SIGKILLed worker, and it follows the dead-worker rule of docs/metrics.md.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Finished } from "../helpers/processes.ts";
import { counterSeries, parsePromText, samples, total, type PromFamily } from "../helpers/prom-text.ts";
import { scratchApp } from "../helpers/scratch.ts";
import { startWithConfig } from "../helpers/start-with-config.ts";
import { alive, get, startTree, until, type Tree } from "../helpers/tree.ts";

const APP = `let n = 0;
export default {
  initWorker() {
    if (ngx.worker.id() !== 0) return;
    // Fails every third run, and stops after 9 so that two reads agree exactly.
    const timer = ngx.timer.every({ interval: 0.1, name: "flaky" }, () => {
      n++;
      if (n === 9) timer.cancel();
      if (n % 3 === 0) throw new Error("run " + n + " fails");
    });
  },
  fetch(request: Request) {
    if (new URL(request.url).pathname === "/block") {
      const end = Date.now() + 3_000;
      process.stdout.write("blocking pid=" + process.pid + "\\n");
      while (Date.now() < end);
    }
    return new Response(String(process.pid));
  },
};
`;

async function scrape(url: string): Promise<{ families: Map<string, PromFamily>; text: string; ms: number }> {
  const started = Date.now();
  const response = await fetch(url);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return { families: parsePromText(text), text, ms: Date.now() - started };
}

const workerPids = (families: Map<string, PromFamily>): string[] =>
  samples(families, "tsresty_process_up", { type: "worker" }).map((s) => s.labels["pid"] ?? "");

// The tree is started in the suite's body (not in a before() hook), so that the cleanup the helpers
// register runs after the suite's last test rather than after the hook.
describe("/metrics of a running tree", async () => {
  const dir = scratchApp({
    "app.ts": APP,
    "c.ts": `export default { metrics: "127.0.0.1:0", shdict: { dogs: "1m" } };\n`,
  });
  const tree: Tree = await startTree(join(dir, "app.ts"), {
    workers: 2,
    args: ["--config", join(dir, "c.ts")],
  });
  const address = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(tree.run.stdout());
  assert.ok(address !== null, tree.run.stdout());
  const metricsUrl = address[1] ?? "";
  after(async () => {
    await tree.command("stop");
  });

  it("a timer that fails every third run shows the same runs and errors in status --json and /metrics", async () => {
    const flaky = async () => (await tree.report()).timers.find((t) => t.name === "flaky");
    assert.ok(await until(async () => (await flaky())?.runs === 9, 20_000), "9 runs");
    const row = await flaky();
    const { families } = await scrape(metricsUrl);
    const runs = total(families, "tsresty_timer_runs_total", { name: "flaky" });
    const errors = total(families, "tsresty_timer_errors_total", { name: "flaky" });
    assert.deepEqual({ runs: row?.runs, errors: row?.errors }, { runs: 9, errors: 3 });
    assert.deepEqual({ runs, errors }, { runs: 9, errors: 3 });
    assert.equal(errors, Math.floor(runs / 3));
    assert.equal(total(families, "tsresty_timer_lateness_seconds_count", { name: "flaky" }), 9);
    assert.equal(samples(families, "tsresty_timer_runs_total", { name: "flaky", worker: "0" }).length, 1);
  });

  it("shows every process, HTTP requests per worker, the zones, and 404 elsewhere", async () => {
    for (let i = 0; i < 5; i++) await get(tree.url("/hello"));
    const { families } = await scrape(metricsUrl);
    const status = await tree.status();
    const pids = status.processes.filter((p) => p.type !== "standby").map((p) => String(p.pid));
    const up = samples(families, "tsresty_process_up").map((s) => s.labels["pid"]);
    assert.deepEqual(up.sort(), pids.sort());
    assert.equal(total(families, "tsresty_http_requests_total"), 5);
    assert.equal(total(families, "tsresty_http_requests_in_flight"), 0);
    assert.equal(total(families, "tsresty_shdict_capacity_bytes", { zone: "dogs" }) > 0, true);
    assert.equal(total(families, "tsresty_restarts_total", { type: "worker" }), 0);
    assert.equal(total(families, "tsresty_scrape_unanswered"), 0);
    const other = await fetch(metricsUrl.replace("/metrics", "/other"));
    assert.equal(other.status, 404);
    await other.text();
  });

  it("every metric the Grafana dashboard queries is in a real scrape", async () => {
    const { families } = await scrape(metricsUrl);
    const names = new Set([...families.values()].flatMap((f) => f.samples.map((s) => s.name)));
    const dashboard = readFileSync(new URL("../../docs/grafana-dashboard.json", import.meta.url), "utf8");
    for (const name of new Set(dashboard.match(/\btsresty_[a-z_]+/g) ?? []))
      assert.ok(names.has(name), `${name} is in the scrape`);
  });

  it("a worker that does not answer within 1 s is left out of the scrape, which does not wait for it", async () => {
    const blocked = get(tree.url("/block"));
    // The request reaches a worker, whose event loop then stays busy for 3 s (waited for, not assumed).
    await tree.run.waitForOutput("blocking pid=");
    const { families, ms } = await scrape(metricsUrl);
    await blocked;
    assert.ok(ms < 2_500, `the scrape took ${ms} ms`);
    assert.equal(total(families, "tsresty_scrape_unanswered"), 1);
    assert.equal(workerPids(families).length, 1);
  });

  it("after a SIGKILLed worker: its series are gone, its slot's restarts went up by one, no counter went backwards", async () => {
    const first = (await scrape(metricsUrl)).families;
    const victim = (await tree.status()).processes.find((p) => p.type === "worker" && p.id === 1);
    assert.ok(victim !== undefined);
    const restartsBefore = total(first, "tsresty_restarts_total", { type: "worker", worker: "1" });
    process.kill(victim.pid, "SIGKILL");
    assert.ok(
      await until(async () => {
        const rows = (await tree.status()).processes;
        return rows.some(
          (p) => p.type === "worker" && p.id === 1 && p.pid !== victim.pid && p.state === "running",
        );
      }, 30_000),
      "worker 1 respawned",
    );
    const second = (await scrape(metricsUrl)).families;
    assert.equal(
      total(second, "tsresty_restarts_total", { type: "worker", worker: "1" }),
      restartsBefore + 1,
    );
    assert.equal(samples(second, "tsresty_process_up", { pid: String(victim.pid) }).length, 0);
    assert.equal(samples(second, "tsresty_http_requests_total", { pid: String(victim.pid) }).length, 0);
    assert.equal(samples(second, "tsresty_process_up", { type: "worker", worker: "1" }).length, 1);
    const before = counterSeries(first);
    for (const [series, value] of counterSeries(second)) {
      const old = before.get(series);
      if (old !== undefined) assert.ok(value >= old, `${series} went from ${old} to ${value}`);
    }
  });

  it("still answers and parses after a reload, on the same address", async () => {
    const before = workerPids((await scrape(metricsUrl)).families);
    const reload = await tree.command("reload");
    assert.equal(reload.code, 0, reload.stderr);
    const { families } = await scrape(metricsUrl);
    assert.equal(total(families, "tsresty_cycle"), 2);
    const after = workerPids(families);
    assert.equal(after.length, 2);
    assert.ok(
      after.every((pid) => !before.includes(pid)),
      "the new generation's workers",
    );
  });
});

describe("metrics config errors", () => {
  const start = (config: string): Promise<Finished> => startWithConfig(() => config);

  it("a bad metrics address fails start (exit 2, as every config error) with an error naming the key", async () => {
    const r = await start(`export default { metrics: "127.0.0.1:99999" };\n`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /metrics must be false or \[HOST:\]PORT with a port from 0 to 65535, received a string \("127\.0\.0\.1:99999"\)/,
    );
  });

  it("a bad accessLog format fails start (exit 2) with an error naming the key", async () => {
    const r = await start(`export default { accessLog: { path: "a.log", format: "xml" } };\n`);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /accessLog\.format must be one of "common", "combined", "json", received a string \("xml"\)/,
    );
  });

  it("a metrics address that cannot be bound fails start (exit 1) naming the address", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    after(() => taken.close());
    const port = (taken.address() as { port: number }).port;
    const r = await start(`export default { metrics: "127.0.0.1:${port}" };\n`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  });
});

describe("/metrics during a graceful stop", () => {
  it("answers while the workers drain, with the draining worker's series, and closes once the master exits (it was closed as the stop began)", async () => {
    const dir = scratchApp({
      "app.ts": `export default {
  initWorker() {
    ngx.timer.at({ delay: 0, name: "long" }, () => new Promise((resolve) => setTimeout(resolve, 3_000)));
  },
  fetch: () => new Response("x"),
};
`,
      "c.ts": `export default { metrics: "127.0.0.1:0" };\n`,
    });
    const tree = await startTree(join(dir, "app.ts"), { workers: 1, args: ["--config", join(dir, "c.ts")] });
    const metricsUrl = /metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(tree.run.stdout())?.[1] ?? "";
    const [worker] = workerPids((await scrape(metricsUrl)).families);
    process.kill(tree.masterPid, "SIGQUIT");
    assert.ok(await until(() => tree.run.stderr().includes("gracefully shutting down")));
    const { families } = await scrape(metricsUrl);
    assert.deepEqual(workerPids(families), [worker], "the draining worker");
    assert.equal(total(families, "tsresty_timers_running", { pid: worker ?? "" }), 1, "its timer still runs");
    assert.ok(await until(() => !alive(tree.masterPid), 20_000), "the master exited");
    await assert.rejects(fetch(metricsUrl), "closed with the master");
  });
});
