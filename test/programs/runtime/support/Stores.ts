/** Memory object stores for the runtime tests, and a wrapper that makes chosen operations fail. */
import { Effect, Layer } from "effect"
import * as MemoryObjectStore from "../../../../src/layers/memory/MemoryObjectStore.ts"
import { ObjectStore, ObjectStoreError, type ObjectStoreService } from "../../../../src/services/ObjectStore.ts"

export const memoryStore = MemoryObjectStore.make

export const layerOf = (store: ObjectStoreService): Layer.Layer<ObjectStore> => Layer.succeed(ObjectStore, store)

export const injected = (operation: string, code = "InternalError") =>
  new ObjectStoreError({ operation, bucket: "injected", code, detail: "injected fault" })

/** `store` with the listed operations failing with an ObjectStoreError (`InternalError`). */
export const failing = (
  store: ObjectStoreService,
  operations: ReadonlyArray<keyof ObjectStoreService>
): ObjectStoreService => {
  const copy: Record<string, unknown> = { ...store }
  for (const operation of operations) copy[operation] = () => Effect.fail(injected(operation))
  return copy as unknown as ObjectStoreService
}

export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
export const bytes = (value: string): Uint8Array => new TextEncoder().encode(value)
