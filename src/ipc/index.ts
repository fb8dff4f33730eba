export {
  parseChildMessage,
  parseMasterMessage,
  type ChildMessage,
  type ChildStatus,
  type MasterMessage,
  type NamedTimer,
} from "./messages.ts";
export { CHILD_SPEC_ENV, decodeChildSpec, encodeChildSpec, type ChildSpec } from "./spec.ts";
