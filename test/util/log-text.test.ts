/**
 * User text in logs and tables: escaped so that it can neither break nor forge a line, and
 * rendered without letting its own code (a Proxy's traps, getters) throw through.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatStatus } from "../../src/cli/status-table.ts";
import { describe as describeValue } from "../../src/errors.ts";
import type { StatusReport } from "../../src/master/index.ts";
import { escapeForLog, lineLogger, logLinePid } from "../../src/util/log.ts";

describe("text in logs and tables", () => {
  it("escapeForLog writes quotes, backslashes and control characters (C0, DEL, C1) as \\xHH, Unicode's line separators and bidirectional controls as \\uHHHH, other text as is", () => {
    assert.equal(
      escapeForLog('a"b\\c\nd\re\u001b[31mf\u007f\u009bg'),
      "a\\x22b\\x5cc\\x0ad\\x0de\\x1b[31mf\\x7f\\x9bg",
    );
    assert.equal(escapeForLog("café € 日本 😀"), "café € 日本 😀");
    // Unicode's line separators and bidirectional controls (they went through as is).
    assert.equal(
      escapeForLog("a\u2028b\u2029c\u202ed\u2066e\u200ff\u061cg"),
      "a\\u2028b\\u2029c\\u202ed\\u2066e\\u200ff\\u061cg",
    );
    // Bytes (a latin1 header value): every byte from 0x7f, as nginx writes them.
    assert.equal(escapeForLog(Buffer.from("é", "utf8").toString("latin1"), true), "\\xc3\\xa9");
  });

  it("a multi-line message stays one entry: its later lines are indented, a stack's own indentation kept; control characters are escaped", () => {
    const lines: string[] = [];
    const log = lineLogger({ write: (line) => lines.push(line), pid: 7, workerId: () => 0 });
    log("error", "first\nsecond\n\nfourth\n    at frame (f.ts:1:1)");
    assert.equal(lines.length, 1);
    assert.match(
      lines[0] ?? "",
      /^\S+ \S+ \[error\] 7#0: first\n\tsecond\n\t\n\tfourth\n {4}at frame \(f\.ts:1:1\)\n$/,
    );
    // Control characters but the tab and the newline are escaped, as escapeForLog does (they were
    // written as they were: a CR, an escape sequence reached the terminal showing the log).
    log("error", 'a\tb\rc\u001b[31md\u009be\u202ef "g" h\\i');
    assert.match(lines[1] ?? "", /: a\tb\\x0dc\\x1b\[31md\\x9be\\u202ef "g" h\\i\n$/);
    assert.equal(logLinePid(lines[0] ?? ""), 7);
    assert.equal(logLinePid("2026/01/01 00:00:00 [warn] 12#-: x"), 12);
    assert.equal(logLinePid("2026/01/01 00:00:00 12#0: output lines carry no level"), null);
  });

  it("describe() of a value whose traps or getters throw says so instead of throwing", () => {
    const revoked = Proxy.revocable([], {});
    revoked.revoke();
    const trapped = new Proxy(
      {},
      {
        get() {
          throw new Error("trap");
        },
      },
    );
    assert.equal(describeValue(revoked.proxy), "an object (unreadable)");
    assert.equal(describeValue(trapped), "an object (unreadable)");
    assert.equal(describeValue(Object.create(null)), "an object (null prototype)");
    assert.equal(describeValue([1]), "an array");
  });

  it("the status table escapes names and error messages and cuts them at 60 characters; a process row lists five named timers, then counts the rest", () => {
    const name = 'sync"\n2026/01/01 00:00:00 [emerg] 1#-: forged\u001b[31m';
    const long = "n".repeat(10_000);
    const row = (n: string) => ({
      name: n,
      kind: "every",
      interval: 500,
      cron: null,
      tz: null,
      singleton: null,
      live: 1,
      runs: 4,
      errors: 1,
      skipped: 0,
      dropped: 0,
      claimErrors: 0,
      lastError: { message: "bad\u001b[2J", at: Date.now() },
      lastStart: Date.now(),
      lastDuration: 1,
      lateness: null,
      nextDue: Date.now() + 500,
      histogram: null,
      owner: { type: "worker", id: 0, pid: 42 },
      processes: 1,
    });
    const report: StatusReport = {
      masterPid: 1,
      listen: [],
      zones: [],
      processes: [
        {
          type: "worker",
          id: 0,
          pid: 42,
          state: "running",
          nextTryMs: null,
          answered: true,
          generation: 1,
          uptime: 5,
          restarts: 0,
          rss: 1,
          cpu: 0.1,
          pending: 2,
          running: 0,
          timers: [{ name, state: "pending", repeating: true, count: 1 }],
        },
      ],
      timers: [row(name), row(long)],
    };
    const table = formatStatus(report);
    assert.ok(!table.includes("\u001b"), "no escape sequence reaches the terminal");
    assert.doesNotMatch(table, /^2026\/01\/01/m, "the name starts no line of its own");
    assert.match(table, /sync\\x22\\x0a2026\/01\/01 00:00:00 \[emerg\] 1#-: forged\\x1b\[31m \(pending\)/);
    assert.match(table, /bad\\x1b\[2J/);
    assert.match(table, new RegExp(`^${"n".repeat(59)}… `, "m"));
    for (const line of table.split("\n")) assert.ok(line.length < 400, `a row of ${line.length} characters`);

    // A process with 1,000 distinct names (a job per request) lists five in its row, then counts.
    const [worker] = report.processes;
    assert.ok(worker !== undefined);
    const timers = Array.from({ length: 1000 }, (_, i) => ({
      name: `job-${i}`,
      state: "pending",
      repeating: false,
      count: 1,
    }));
    const busy = formatStatus({ ...report, processes: [{ ...worker, timers }] });
    const workerRow = busy.split("\n").find((line) => line.startsWith("worker")) ?? "";
    assert.match(workerRow, /job-0 \(pending\), job-1 .*job-4 \(pending\), \+995 more$/);
    assert.ok(workerRow.length < 400, `the worker row has ${workerRow.length} characters`);
  });
});
