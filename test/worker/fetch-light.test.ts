// The adapter's tests (fetch.test.ts) once more, with the light Response as the global, as in a
// worker whose config leaves http.lightResponse on.
import { installLightResponse } from "../../src/worker/fetch/index.ts";

installLightResponse();
await import("./fetch.test.ts");
