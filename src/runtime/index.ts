export {
  currentRuntime,
  INIT_CONTEXT,
  installRuntime,
  type RuntimeContext,
  type RuntimeOptions,
} from "./context.ts";
export { describeRunning, drainCutMessage, neverRan } from "./drain-cut.ts";
export { installGlobalNgx } from "./global.ts";
export {
  ngx,
  type CurrentRun,
  type Ngx,
  type NgxConfig,
  type NgxPipe,
  type NgxProcess,
  type NgxShell,
  type NgxTimer,
  type NgxWorker,
} from "./ngx.ts";
export { appMembers, checkApp, defineApp, loadApp, type App } from "./app.ts";
export { awaitSpec, runChild } from "./child.ts";
export type { ChildState } from "./lifecycle.ts";
export type { ChildRole, Service } from "./service.ts";
export type { ServiceCounts } from "./metrics.ts";
export { describeLoadError, describeUncaught, describeUserError } from "../util/load-error.ts";
export { dropPrivileges } from "./privileges.ts";
export { attachMasterZones } from "./zones.ts";
export { exitWithMaster, unwatchedMessage } from "./master-gone.ts";
export { reportPipeGroups } from "./to-master.ts";
