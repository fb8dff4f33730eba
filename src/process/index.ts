export { exitWhenWritten } from "./exit.ts";
export { singleIdentity, type Identity, type ProcessType } from "./identity.ts";
export {
  EARLY_SIGNALS_URL,
  handleSignals,
  ignore,
  releaseEndingSignals,
  signalSafetyFlags,
  type HandledSignal,
  type SignalHandlers,
} from "./signals.ts";
