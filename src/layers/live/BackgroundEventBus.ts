/**
 * An EventBus whose NATS connection is made in the background, for the in-pod commands: their optional live-log
 * publishing (docs/contracts.md, "NATS subjects") must never hold up the sidecar's start or the bot, so until the connection is
 * up publishes are dropped (the chunks are in the object store anyway) and the other operations wait for it.
 */
import { Deferred, Effect, Layer, Option, Stream } from "effect"
import { EventBus, type EventBusService } from "../../services/EventBus.ts"
import type { NatsConfig } from "./NatsConfig.ts"
import * as NatsEventBus from "./NatsEventBus.ts"

export const layer = (config: NatsConfig): Layer.Layer<EventBus> =>
  Layer.scoped(
    EventBus,
    Effect.gen(function* () {
      const ready = yield* Deferred.make<EventBusService>()
      yield* NatsEventBus.make(config).pipe(
        Effect.flatMap((bus) => Deferred.succeed(ready, bus)),
        Effect.catchAll((error) => Effect.logWarning(`live log publishing off: ${error.message}`)),
        Effect.forkScoped
      )
      const connected = Deferred.await(ready)
      const service: EventBusService = {
        publish: (subject, data) =>
          Effect.flatMap(Deferred.poll(ready), (bus) =>
            Option.isSome(bus) ? Effect.flatMap(bus.value, (b) => b.publish(subject, data)) : Effect.void
          ),
        subscribe: (subject, options) => Stream.unwrap(Effect.map(connected, (b) => b.subscribe(subject, options))),
        ensureStream: (stream) => Effect.flatMap(connected, (b) => b.ensureStream(stream)),
        streamInfo: (name) => Effect.flatMap(connected, (b) => b.streamInfo(name)),
        consumerState: (stream, durable) => Effect.flatMap(connected, (b) => b.consumerState(stream, durable)),
        consume: (consumer) => Stream.unwrap(Effect.map(connected, (b) => b.consume(consumer))),
        connectionState: Effect.flatMap(Deferred.poll(ready), (bus) =>
          Option.isSome(bus)
            ? Effect.flatMap(bus.value, (b) => b.connectionState)
            : Effect.succeed("reconnecting" as const)
        )
      }
      return service
    })
  )
