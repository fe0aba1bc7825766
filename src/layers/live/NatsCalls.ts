/**
 * The NATS client as Effects: its promises and throws as `EventBusError`, its async iterators as Streams, and the
 * subject rules, shared by the bus and its durable consumers.
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"
import { Effect, Option, Stream } from "effect"
import { EventBusError } from "../../services/EventBus.ts"

/** Timeout of connection attempts, JetStream API calls and acks. */
export const requestTimeoutMillis = 5_000

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

export const failure =
  (operation: string) =>
  (cause: unknown): EventBusError =>
    new EventBusError({ operation, detail: describe(cause), cause })

export const fail = (operation: string, detail: string) => Effect.fail(new EventBusError({ operation, detail }))

/** A JetStream API call, its rejection (or synchronous throw, e.g. an invalid name) as `EventBusError`. */
export const call = <A>(operation: string, f: () => Promise<A>): Effect.Effect<A, EventBusError> =>
  Effect.tryPromise({ try: f, catch: failure(operation) })

export const isApiError = (error: EventBusError, code: number): boolean =>
  error.cause instanceof JetStreamApiError && error.cause.code === code

/** Subjects are `.`-separated non-empty tokens; `*` and `>` are wildcards only as whole tokens, `>` only last. */
export const validSubject = (subject: string, wildcards: boolean): boolean =>
  subject
    .split(".")
    .every(
      (token, i, all) =>
        token.length > 0 &&
        !/\s/.test(token) &&
        (wildcards ? token !== ">" || i === all.length - 1 : token !== "*" && token !== ">")
    )

/**
 * Reads an async iterator without ever calling `return()`: the client's iterators are async generators, whose
 * `return()` waits behind a pending `next()` (that is, until the next message). The source is ended by closing
 * it (unsubscribe, stop), which the caller's finalizer does.
 */
export const fromIterator = <A>(iterable: AsyncIterable<A>, onError: (cause: unknown) => EventBusError) =>
  Stream.suspend(() => {
    const iterator = iterable[Symbol.asyncIterator]()
    return Stream.repeatEffectOption(
      Effect.tryPromise({ try: () => iterator.next(), catch: (cause) => Option.some(onError(cause)) }).pipe(
        Effect.flatMap((result) => (result.done === true ? Effect.fail(Option.none()) : Effect.succeed(result.value)))
      )
    )
  })

export const sameSubjects = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): boolean =>
  a.length === b.length && a.every((s, i) => s === b[i])

export const streamNotFound = (e: EventBusError) => isApiError(e, JetStreamApiCodes.StreamNotFound)
