export {
  parseChildMessage,
  parseMasterMessage,
  type ChildMessage,
  type ChildStatus,
  type MasterMessage,
  type NamedTimer,
} from "./messages.ts";
export {
  CHILD_SPEC_ENV,
  checkChildSpec,
  decodeChildSpec,
  encodeChildSpec,
  STANDBY,
  type ChildSpec,
} from "./spec.ts";
export {
  CONTROL_SOCKET,
  parseControlRequest,
  PID_FILE,
  type ControlRequest,
  type ControlResponse,
  type ProcessRow,
  type StatusReport,
} from "./control.ts";
