/**
 * The backends of `gc`: MongoDB for the documents, MinIO (configured from the environment, as in the0) for the
 * objects. Shared by the full CLI and the small `gc` entry.
 */
import { Layer } from "effect"
import * as MinioObjectStore from "./layers/live/MinioObjectStore.ts"
import * as MongoBotStore from "./layers/live/MongoBotStore.ts"
import type { GcBackends } from "./programs/cli/Gc.ts"

export const gcBackends: GcBackends = (mongoUri) =>
  Layer.merge(MongoBotStore.layer({ uri: mongoUri, setting: "MONGO_URI" }), MinioObjectStore.layerFromEnv)
