/**
 * Issue 13 item 4: the API reference. Every public export of src/index.ts, every member of `ngx`
 * (and of ngx.timer, ngx.worker, …) and every config key carries TSDoc with an example in the
 * source, and docs/api.md documents exactly those, as the source says (api-model.ts reads the
 * source with the TypeScript compiler).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { apiEntries, readApiMd, renderApi, type ApiEntry } from "./api-model.ts";

const entries = apiEntries();
const byGroup = (group: ApiEntry["group"]): string[] =>
  entries.filter((e) => e.group === group).map((e) => e.name);
const headings = [...readApiMd().matchAll(/^### `([^`]+)`$/gm)].map((m) => m[1] ?? "");

describe("docs/api.md against the source", () => {
  it("finds the public surface: exports, ngx members and config keys", () => {
    for (const name of ["ngx", "defineApp", "defineConfig", "PipeProcess", "ShellResult", "TimerError"])
      assert.ok(byGroup("export").includes(name), name);
    // Types of documented signatures, which a user could not name before.
    for (const name of [
      "CurrentRun",
      "NgxPipe",
      "NgxShell",
      "TermMode",
      "ShdictSpec",
      "Key",
      "ReadFailure",
      "SimpleResult",
    ])
      assert.ok(byGroup("export").includes(name), name);
    for (const name of [
      "ngx.timer.at",
      "ngx.timer.every",
      "ngx.timer.cron",
      "ngx.pipe.spawn",
      "ngx.shell.run",
      "ngx.worker.id",
      "ngx.process.type",
      "ngx.shared",
      "ngx.lock",
      "ngx.log",
      "ngx.config.get",
      "ngx.ERR",
    ])
      assert.ok(byGroup("ngx").includes(name), name);
    for (const name of [
      "timers.maxPending",
      "http.keepAliveTimeout",
      "signals.term",
      "coordinator.keyPrefix",
    ])
      assert.ok(byGroup("config").includes(name), name);
  });

  it("every public export, ngx member and config key has TSDoc with an @example in the source", () => {
    const missing = entries
      .filter((e) => e.doc === "" || e.examples.length === 0)
      .map((e) => `${e.name} (${e.where}): ${e.doc === "" ? "no TSDoc" : "no @example"}`);
    assert.deepEqual(missing, []);
  });

  it("docs/api.md has a section for every one of them, and none for anything else", () => {
    const names = entries.map((e) => e.name);
    assert.deepEqual(
      names.filter((name) => !headings.includes(name)),
      [],
      "not in docs/api.md",
    );
    assert.deepEqual(
      headings.filter((name) => !names.includes(name)),
      [],
      "in docs/api.md but not in the source",
    );
  });

  it("docs/api.md says what the source says (else: node --import tsx test/docs/api-model.ts --write)", async () => {
    assert.equal(readApiMd(), await renderApi(entries));
  });
});
