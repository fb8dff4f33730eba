// Types for early-signals.mjs, which is plain JavaScript so that it runs before any loader.
export {};
