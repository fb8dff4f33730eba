import type { UserConfig } from "./types.ts";

export { DEFAULT_CONFIG, type ResolvedConfig, type UserConfig } from "./types.ts";
export { resolveConfig } from "./resolve.ts";
export { loadConfigFile } from "./load.ts";

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
