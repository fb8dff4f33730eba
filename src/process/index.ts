export { exitWhenWritten } from "./exit.ts";
export { singleIdentity, type Identity, type ProcessType } from "./identity.ts";
export {
  EARLY_SIGNALS_URL,
  handleSignals,
  HANDLED_SIGNALS,
  ignore,
  releaseEndingSignals,
  signalSafetyFlags,
  type HandledSignal,
  type SignalHandlers,
} from "./signals.ts";
