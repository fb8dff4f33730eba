import { after } from "node:test";
import { spawn, type PipeProcess } from "../../src/pipe/index.ts";

/**
 * `ngx.pipe.spawn` for a test file: every child it starts and that still runs when the file's
 * tests are over is SIGKILLed then.
 */
export function spawnTracked(): (...args: Parameters<typeof spawn>) => PipeProcess {
  const started: PipeProcess[] = [];
  after(() => {
    for (const proc of started) if (proc.running()) proc.kill("SIGKILL");
  });
  return (...args) => {
    const proc = spawn(...args);
    started.push(proc);
    return proc;
  };
}
