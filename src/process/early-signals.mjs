// The first module of every tsresty process: bin/tsresty imports it before anything else, and the
// master forks each child with it as the first `--import`, ahead of the TypeScript loader. Until a
// process installs its real handlers (see signals.ts), Node's defaults would apply: SIGHUP and
// SIGQUIT kill the process and SIGUSR1 opens the inspector on 127.0.0.1:9229 (in the privileged
// agent, a root debugger). Here they are queued instead, and replayed once the process can act.
// A second TERM or INT before that ends the process (so a process stuck while booting still stops).
const STATE = Symbol.for("tsresty.earlySignals");
// SIGUSR1 first: its default (a debugger, root's in the agent) is the worst, and once a process
// is seen catching SIGHUP (/proc/PID/status, SigCgt) every handler before it is in place.
const SIGNALS = ["SIGUSR1", "SIGHUP", "SIGQUIT", "SIGTERM", "SIGINT", "SIGUSR2"];
const NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15, SIGUSR1: 10, SIGUSR2: 12 };

if (globalThis[STATE] === undefined) {
  const state = { queue: [], listeners: new Map() };
  for (const signal of SIGNALS) {
    const listener = () => {
      if ((signal === "SIGTERM" || signal === "SIGINT") && state.queue.includes(signal)) {
        process.exit(128 + NUMBERS[signal]);
      }
      state.queue.push(signal);
    };
    state.listeners.set(signal, listener);
    process.on(signal, listener);
  }
  globalThis[STATE] = state;
}
