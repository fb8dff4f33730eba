import { defineConfig } from "tsresty";

export default defineConfig({
  workers: 2,
  listen: "127.0.0.1:8080",
  shdict: { cache: "10m", locks: "1m" },
});
