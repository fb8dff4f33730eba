export {
  parseChildMessage,
  parseMasterMessage,
  type ChildMessage,
  type ChildProbe,
  type ChildStatus,
  type FailureKind,
  type InitOutcome,
  type LatenessBuckets,
  type LoadRequest,
  type MasterMessage,
  type NamedTimer,
  type StatusScope,
  type TimerStatsRow,
} from "./messages.ts";
export { checkChildSpec, type Account, type ChildSpec, type ZoneRef } from "./spec.ts";
export {
  CONTROL_SOCKET,
  parseControlRequest,
  PID_FILE,
  type ControlRequest,
  type ControlResponse,
  type ProcessRow,
  type StatusReport,
  type TimerOwner,
  type TimerRow,
  type ZoneRow,
} from "./control.ts";
