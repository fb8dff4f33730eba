// The log writers (util/log-file.ts) and the master's reopen of them (master/logs.ts), on real
// files; a full disk is a small tmpfs (root only).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Logs } from "../../src/master/logs.ts";
import { pidText, processLabel } from "../../src/master/slots.ts";
import { openLogWriter } from "../../src/util/log-file.ts";
import { ROOT_ONLY } from "../helpers/processes.ts";
import { scratchDir } from "../helpers/scratch.ts";

describe("log files", () => {
  it(
    "a line a full disk cut short is ended before the next line once the disk takes lines again: no line glued to a torn one",
    ROOT_ONLY,
    () => {
      // Not a scratchDir: its removal would come before the unmount.
      const mount = mkdtempSync(join(tmpdir(), "tsresty-log-full-"));
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount]);
      after(() => {
        execFileSync("umount", ["-l", mount]);
        rmSync(mount, { recursive: true, force: true });
      });
      const filler = join(mount, "filler");
      writeFileSync(filler, Buffer.alloc(24 * 1024));
      const path = join(mount, "error.log");
      const writer = openLogWriter(path, "stderr", "error log");
      const stderr = process.stderr.write.bind(process.stderr);
      process.stderr.write = () => true; // the writer's own notices
      try {
        // 300-byte lines into ~40 KiB: the last that fits is written in part.
        for (let i = 0; i < 200; i++)
          writer.write(`2026/12/04 10:00:00 [warn] line ${i} ${"x".repeat(260)}\n`);
        unlinkSync(filler);
        writer.write("2026/12/04 10:00:01 [warn] after the disk took lines again\n");
      } finally {
        process.stderr.write = stderr;
      }
      const lines = readFileSync(path, "latin1").split("\n");
      assert.equal(lines.at(-1), "", "the file ends with a whole line");
      assert.equal(lines.at(-2), "2026/12/04 10:00:01 [warn] after the disk took lines again");
      for (const line of lines.slice(0, -1)) {
        assert.ok(
          (line.match(/2026\/12\/04/g) ?? []).length === 1,
          `one line per line: ${line.slice(0, 80)}…`,
        );
      }
    },
  );

  it("USR1's reopen names each log that cannot be reopened, the output log as the output log", () => {
    const dir = scratchDir("log-reopen");
    mkdirSync(join(dir, "logs"));
    const logs = new Logs(
      openLogWriter(join(dir, "logs", "error.log"), "stderr", "error log"),
      openLogWriter(join(dir, "logs", "out.log"), "stdout", "output log"),
    );
    assert.deepEqual(logs.reopen(), []);
    renameSync(join(dir, "logs"), join(dir, "gone"));
    writeFileSync(join(dir, "logs"), "a file where the directory was");
    const failures = logs.reopen();
    assert.equal(failures.length, 2, JSON.stringify(failures));
    assert.match(failures[0] ?? "", /^cannot reopen the error log: ENOTDIR.*logs\/error\.log/);
    assert.match(failures[1] ?? "", /^cannot reopen the output log: ENOTDIR.*logs\/out\.log/);
    rmSync(join(dir, "logs"));
  });

  it("a process whose fork failed is named without its pid of -1", () => {
    assert.equal(processLabel({ role: "worker", id: 4 }, -1), "worker process (id 4)");
    assert.equal(processLabel({ role: "worker", id: 4 }, 123), "worker process 123 (id 4)");
    assert.equal(`standby process${pidText(-1)} could not be forked`, "standby process could not be forked");
  });
});
