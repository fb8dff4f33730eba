/**
 * Exits once what this process wrote to stdout and stderr has gone out. A pipe takes 64 KiB at
 * once and Node queues the rest, which process.exit() drops: `tsresty -e '…' | jq` got 64–192
 * KiB of a 3 MB output, and a worker's, init's or the master's last lines never reached their
 * reader. A reader that left fails the write, and the exit follows at once. A reader that is
 * there but reads nothing holds the exit, as it holds any writer: a master's child is then
 * ended by the master's own kill at the end of its stop budget (config/defaults.ts, STOP_MARGIN).
 */
export function exitWhenWritten(code?: number): void {
  let waiting = 2;
  const written = (): void => {
    if (--waiting !== 0) return;
    // Without a code, process.exitCode's: Node 20's process.exit(undefined) exits 0 instead.
    if (code === undefined) process.exit();
    else process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.writableLength === 0) written();
    else stream.write("", written);
  }
}
