import { Data, Either } from "effect"
import type { KubeObject } from "../../domain/Kube.ts"
import { validateObject } from "../../domain/KubeValidation.ts"

/**
 * A bot or schedule document from which no valid object can be generated. It is reported for that one document
 * (log, metric, Event) and never stops the others. `field` is the document field at fault (`id`,
 * `custom.filePath`, `config.schedule`...) or, for what the API server would reject, the object field
 * (`metadata.name`, `metadata.labels[the0.app/bot-id]`...).
 */
export class ManifestError extends Data.TaggedError("ManifestError")<{
  readonly botId: string
  readonly field: string
  readonly message: string
}> {}

/** The object, or the first violation the API server would report for it, as a `ManifestError`. */
export const validated = <O extends KubeObject>(botId: string, object: O): Either.Either<O, ManifestError> => {
  const violation = validateObject(object)[0]
  return violation === undefined
    ? Either.right(object)
    : Either.left(new ManifestError({ botId, field: violation.field, message: violation.message }))
}
