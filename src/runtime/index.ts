export { currentRuntime, installRuntime, type RuntimeContext, type RuntimeOptions } from "./context.ts";
export { installGlobalNgx } from "./global.ts";
export { ngx, type Ngx, type NgxProcess, type NgxTimer, type NgxWorker } from "./ngx.ts";
