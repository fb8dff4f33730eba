import { ngx, type Ngx } from "./ngx.ts";

declare global {
  /** The tsresty API, as OpenResty's global `ngx` (also `import { ngx } from "tsresty"`). */
  var ngx: Ngx;
}

/** Makes `ngx` a global of this process. */
export function installGlobalNgx(): void {
  Object.defineProperty(globalThis, "ngx", {
    value: ngx,
    writable: false,
    configurable: true,
    enumerable: false,
  });
}
