export { runMaster, StartCancelled, type MasterOptions } from "./main.ts";
export { isAlive, isTsresty, readPid } from "./pidfile.ts";
export { MasterSilent, sendControl, talkToMaster } from "./control-client.ts";
export {
  PID_FILE,
  type ControlResponse,
  type ProcessRow,
  type StatusReport,
  type TimerRow,
} from "../ipc/index.ts";
