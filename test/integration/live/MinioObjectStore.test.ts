import * as MinioObjectStore from "../../../src/layers/live/MinioObjectStore.ts"
import { objectStoreContract } from "../../contracts/ObjectStoreContract.ts"
import { requireEnv } from "../testbed/env.ts"

requireEnv("MINIO_ENDPOINT", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY", "MINIO_USE_SSL")

objectStoreContract("MinIO (testbed)", MinioObjectStore.layerFromEnv)
