/**
 * Signal handlers of a tsresty process. `early-signals.mjs` has queued every signal since the
 * process began; `handleSignals` installs the role's handlers and then replays what was queued,
 * in order. Signals the role leaves out keep being queued (never Node's default action).
 */
import { debuglog } from "node:util";

const HANDLED_SIGNALS = ["SIGHUP", "SIGQUIT", "SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2"] as const;
export type HandledSignal = (typeof HANDLED_SIGNALS)[number];
export type SignalHandlers = Partial<Record<HandledSignal, (signal: HandledSignal) => void>>;

interface EarlyState {
  readonly queue: HandledSignal[];
  readonly listeners: Map<HandledSignal, () => void>;
}

const STATE = Symbol.for("tsresty.earlySignals");
const debug = debuglog("tsresty:signals");

/** The URL of the module that queues signals from a process's first moment (for `--import`). */
export const EARLY_SIGNALS_URL = new URL("./early-signals.mjs", import.meta.url).href;

/**
 * Where the inspector of a child on a Node without `--disable-sigusr1` would listen: TEST-NET-1
 * (RFC 5737), an address no interface has, so that it cannot. Node blocks USR1 from its first
 * step until the inspector's handler is in place, tens of milliseconds before early-signals.mjs
 * takes USR1 over: a USR1 that came meanwhile would open a debugger on 127.0.0.1:9229 (in the
 * privileged agent, root's). With this address Node says `Starting inspector on 192.0.2.1:9229
 * failed: address not available` and goes on. (A host with net.ipv4.ip_nonlocal_bind set lets it
 * listen there, where no packet addressed to it is delivered.)
 */
const NO_INSPECTOR_PORT = "192.0.2.1:9229";

/**
 * Node flags that keep SIGUSR1 from opening the inspector in a child: `--disable-sigusr1` where
 * this Node knows it (22.14+), else an inspector address that cannot be listened on.
 */
export function signalSafetyFlags(): string[] {
  return process.allowedNodeEnvironmentFlags.has("--disable-sigusr1")
    ? ["--disable-sigusr1"]
    : [`--inspect-port=${NO_INSPECTOR_PORT}`];
}

/**
 * Installs `handlers` and replays the signals queued since the process began. Idempotent per
 * signal: a later call replaces an earlier handler.
 */
export function handleSignals(handlers: SignalHandlers): void {
  const early = (globalThis as { [STATE]?: EarlyState })[STATE];
  for (const signal of HANDLED_SIGNALS) {
    const handler = handlers[signal];
    if (handler === undefined) continue;
    const installed = installedHandlers.get(signal);
    if (installed !== undefined) process.off(signal, installed);
    const listener = (): void => {
      debug("%s", signal);
      handler(signal);
    };
    installedHandlers.set(signal, listener);
    process.on(signal, listener);
    const queued = early?.listeners.get(signal);
    if (queued !== undefined) {
      process.off(signal, queued);
      early?.listeners.delete(signal);
    }
  }
  if (early === undefined) return;
  const replay = early.queue.filter((signal) => handlers[signal] !== undefined);
  early.queue.splice(
    0,
    early.queue.length,
    ...early.queue.filter((signal) => handlers[signal] === undefined),
  );
  for (const signal of replay) {
    debug("%s (queued while starting)", signal);
    handlers[signal]?.(signal);
  }
}

const installedHandlers = new Map<HandledSignal, () => void>();

/** The signals that end a process that does not handle them; USR1 and USR2 stay queued (USR1 would open the inspector). */
const ENDING_SIGNALS: readonly HandledSignal[] = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM"];

/**
 * For a process that handles no signal itself (a control command such as `tsresty logs -f`):
 * HUP, INT, QUIT and TERM get their default action again (the process ends), and one that
 * was queued since the process began takes effect now.
 */
export function releaseEndingSignals(): void {
  const early = (globalThis as { [STATE]?: EarlyState })[STATE];
  if (early === undefined) return;
  for (const signal of ENDING_SIGNALS) {
    const queued = early.listeners.get(signal);
    if (queued === undefined) continue;
    process.off(signal, queued);
    early.listeners.delete(signal);
  }
  const pending = early.queue.find((signal) => ENDING_SIGNALS.includes(signal));
  if (pending !== undefined) process.kill(process.pid, pending);
}

/** Ignores `signal` from now on (children ignore HUP: only the master reloads). */
export const ignore = (signal: HandledSignal): void => {
  debug("%s ignored", signal);
};
