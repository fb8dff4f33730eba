import type { UserConfig } from "./types.ts";

export type { ListenAddress, ResolvedConfig, ShdictSpec, TermMode, UserConfig } from "./types.ts";
export {
  AGENT_CONNECTIONS,
  DEFAULT_CONFIG,
  EXIT_WORKER_BOUND,
  FAST_EXIT_WORKER_BOUND,
  START_SHUTDOWN_TIMEOUT,
  STOP_MARGIN,
  stopBudget,
} from "./defaults.ts";
export {
  formatListen,
  parseListen,
  parseShdictFlags,
  parseSize,
  parseWorkers,
  parseZoneName,
  type Parsed,
} from "./values.ts";
export { resolveConfig } from "./resolve.ts";
export { loadConfigInput, resolveWithOverrides, withOverrides } from "./load.ts";

/**
 * Types a config file. Returns its argument unchanged.
 * @example
 * // tsresty.config.ts
 * import { defineConfig } from "tsresty";
 * export default defineConfig({ timers: { maxPending: 4096 } });
 */
export function defineConfig(config: UserConfig): UserConfig {
  return config;
}
