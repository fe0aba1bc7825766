import { Data, Either, ParseResult, Schema } from "effect"

/** A stored or received document that does not have the expected shape. Names the document and the field. */
export class DocumentDecodeError extends Data.TaggedError("DocumentDecodeError")<{
  readonly source: string
  readonly documentId: string
  readonly field: string
  readonly detail: string
}> {
  override get message(): string {
    return `${this.source} document ${JSON.stringify(this.documentId)}: field ${this.field}: ${this.detail}`
  }
}

const idOf = (raw: unknown): string => {
  if (typeof raw === "object" && raw !== null && "id" in raw) {
    const id = (raw as { readonly id: unknown }).id
    if (typeof id === "string") return id
    if (id !== undefined) return JSON.stringify(id)
  }
  return "<no id>"
}

const fieldOf = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0 ? "<root>" : path.map(String).join(".")

/**
 * Decodes an unknown document with a schema, keeping unknown fields, and turns the first parse issue into a
 * `DocumentDecodeError` that names the document id and the dotted field path.
 */
export const decodeDocument =
  <A, I>(schema: Schema.Schema<A, I>, source: string) =>
  (raw: unknown): Either.Either<A, DocumentDecodeError> =>
    Schema.decodeUnknownEither(schema, { onExcessProperty: "preserve", errors: "first" })(raw).pipe(
      Either.mapLeft((error) => {
        const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
        return new DocumentDecodeError({
          source,
          documentId: idOf(raw),
          field: fieldOf(issue?.path ?? []),
          detail: issue?.message ?? String(error)
        })
      })
    )

/**
 * A decoder that remembers, per document id, the JSON it last decoded and the result, so an unchanged
 * document is not decoded again on every full read (a resync of 10,000 bots re-reads all of them).
 */
export const cachedDecoder = <A>(
  decode: (raw: unknown) => Either.Either<A, DocumentDecodeError>,
  maxEntries = 100_000
): ((raw: unknown) => Either.Either<A, DocumentDecodeError>) => {
  const cache = new Map<string, { readonly json: string; readonly result: Either.Either<A, DocumentDecodeError> }>()
  return (raw) => {
    const id = idOf(raw)
    const json = JSON.stringify(raw)
    const hit = cache.get(id)
    if (hit !== undefined && hit.json === json) return hit.result
    const result = decode(raw)
    if (cache.size >= maxEntries) cache.clear()
    cache.set(id, { json, result })
    return result
  }
}
