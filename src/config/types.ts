/** What a user writes in `tsresty.config.ts` (every key optional). */
export interface UserConfig {
  readonly timers?: {
    /** Most timers pending at once per process (default 1024, as `lua_max_pending_timers`). */
    readonly maxPending?: number;
    /** Most callbacks running at once per process (default 256, as `lua_max_running_timers`). */
    readonly maxRunning?: number;
    /**
     * What a due timer does when `maxRunning` callbacks already run: "wait" for a free slot
     * (default), or "drop" it with an alert, as OpenResty does.
     */
    readonly runningLimit?: "wait" | "drop";
  };
  /**
   * Seconds a graceful exit waits for running timer callbacks before the process exits anyway.
   * 0 (the default in single mode, as `resty`) waits as long as they run.
   */
  readonly shutdownTimeout?: number;
}

/** The validated, complete, frozen configuration the runtime trusts. */
export interface ResolvedConfig {
  readonly timers: {
    readonly maxPending: number;
    readonly maxRunning: number;
    readonly runningLimit: "wait" | "drop";
  };
  readonly shutdownTimeout: number;
}

export const DEFAULT_CONFIG: ResolvedConfig = Object.freeze({
  timers: Object.freeze({ maxPending: 1024, maxRunning: 256, runningLimit: "wait" as const }),
  shutdownTimeout: 0,
});
