/**
 * tsresty's public surface. `ngx` is the same object as the global `ngx` that every process
 * run by tsresty has.
 */
export {
  ngx,
  defineApp,
  type App,
  type CurrentRun,
  type Ngx,
  type NgxProcess,
  type NgxTimer,
  type NgxConfig,
  type NgxPipe,
  type NgxShell,
  type NgxWorker,
} from "./runtime/index.ts";
export {
  defineConfig,
  type UserConfig,
  type ResolvedConfig,
  type ListenAddress,
  type ShdictSpec,
  type TermMode,
} from "./config/index.ts";
export type {
  Timer,
  TimerCallback,
  TimerState,
  TimerKind,
  TimerRun,
  AtOptions,
  EveryOptions,
  CronOptions,
  Singleton,
} from "./timer/index.ts";
export type { ProcessType } from "./process/index.ts";
export type {
  BytesResult,
  LineResult,
  PipeProcess,
  ReadFailure,
  ReadResult,
  ShellOptions,
  ShellResult,
  SimpleResult,
  SpawnOptions,
  WaitResult,
  WriteResult,
} from "./pipe/index.ts";
export type {
  ExpireResult,
  GetResult,
  IncrResult,
  Key,
  LengthResult,
  Lock,
  LockOptions,
  LockResult,
  PopResult,
  PushResult,
  Reason,
  SharedDict,
  SharedDicts,
  ShdictValue,
  StaleResult,
  StoreResult,
  TtlResult,
  UnlockResult,
} from "./shdict/index.ts";
export {
  ConfigError,
  ContextError,
  InvalidArgTypeError,
  InvalidArgValueError,
  ShdictError,
  StartError,
  TimerError,
  UnknownOptionError,
  UsageError,
  type ErrorCode,
  type TimerRefusal,
} from "./errors.ts";
