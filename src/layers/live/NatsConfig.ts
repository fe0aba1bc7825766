/** The NATS bus's settings: the server list (checked as the client would parse it) and where it comes from. */
import { Config, Data, Effect } from "effect"

/** A missing or malformed NATS setting; the message names the setting (`NATS_URL is required`). */
export class NatsConfigError extends Data.TaggedError("NatsConfigError")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

export interface NatsConfig {
  /** One server URL or several separated by commas (`nats://host:4222`, `tls://host:4222` or `host:port`). */
  readonly servers: string
  /** The client name the server shows in its connection list. */
  readonly name?: string
  /**
   * How many messages a durable consumer asks for at a time (default 1: a message is fetched when the caller
   * asks for the next one, so none waits in a buffer while its ack wait runs).
   */
  readonly prefetch?: number
}

const schemes = new Set(["nats:", "tls:"])

/** Checks a comma-separated server list; `setting` names it in the message (`NATS_URL`). */
export const parseServers = (
  servers: string,
  setting: string
): Effect.Effect<ReadonlyArray<string>, NatsConfigError> => {
  const bad = (why: string) =>
    Effect.fail(
      new NatsConfigError({ detail: `${setting} ${JSON.stringify(servers)} is not a valid NATS URL: ${why}` })
    )
  const list = servers
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
  if (list.length === 0) return bad("no server")
  for (const server of list) {
    let url: URL
    try {
      url = new URL(server.includes("://") ? server : `nats://${server}`)
    } catch {
      return bad(`cannot parse ${JSON.stringify(server)}`)
    }
    if (!schemes.has(url.protocol)) return bad(`scheme ${url.protocol} is not nats:// or tls://`)
    if (url.hostname === "") return bad(`no host in ${JSON.stringify(server)}`)
    if (url.pathname !== "" && url.pathname !== "/") return bad(`a path in ${JSON.stringify(server)}`)
  }
  return Effect.succeed(list)
}

/** A variable's value, `""` when unset; string settings cannot be invalid, so a ConfigError is a defect. */
const variable = (name: string): Effect.Effect<string> => Effect.orDie(Config.string(name).pipe(Config.withDefault("")))

/**
 * Reads `NATS_URL` (the0's variable) and our `NATS_NAME` from the environment (the ConfigProvider); a missing or
 * invalid URL is an error naming it.
 */
export const configFromEnv: Effect.Effect<NatsConfig, NatsConfigError> = Effect.gen(function* () {
  const servers = yield* variable("NATS_URL")
  if (servers.trim() === "") return yield* new NatsConfigError({ detail: "NATS_URL is required" })
  const name = yield* variable("NATS_NAME")
  yield* parseServers(servers, "NATS_URL")
  return { servers, ...(name === "" ? {} : { name }) }
})
