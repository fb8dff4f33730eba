export { runMaster, StartCancelled, type MasterOptions } from "./main.ts";
export { isAlive, isMasterCommand, isTsresty, readPid } from "./pidfile.ts";
export { MasterSilent, sendControl, talkToMaster } from "./control-client.ts";
export { prefixLocked } from "./prefix.ts";
export {
  PID_FILE,
  type ControlResponse,
  type ProcessRow,
  type StatusReport,
  type TimerRow,
} from "../ipc/index.ts";
