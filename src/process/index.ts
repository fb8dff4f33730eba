export { singleIdentity, type Identity, type ProcessType } from "./identity.ts";
