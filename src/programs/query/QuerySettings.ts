/**
 * The QueryServer's settings (docs/contracts.md, "The :9477 API"): where it listens, the limits the0 lacks (request body size,
 * ephemeral Jobs in flight, the largest `timeout_sec`), optional bearer-token auth, and what the ephemeral Job
 * path needs from the manifest settings. Every field has a flag and an env var in the CLI.
 */
import { defaultQueryTimeoutSec, queryApiPort } from "../../domain/Query.ts"
import { everyInterface } from "../ListenAddress.ts"
import * as ManifestSettings from "../manifests/ManifestSettings.ts"

export interface QuerySettings {
  /** `:9477` in the0. */
  readonly port: number
  /** Interface to bind; all interfaces by default, as Go's `:9477`. */
  readonly host: string
  /**
   * Refuse (403) a request whose `Host` or `Origin` is not the bound address or `localhost` with the port
   * (programs/HostGuard.ts). `dev` turns it on; the controller answers any Host, behind a Kubernetes Service.
   */
  readonly checkHost: boolean
  /** Larger `POST /query` bodies get 413. */
  readonly maxBodyBytes: number
  /** Ephemeral query Jobs running at once on this replica; one more gets 429. */
  readonly maxJobsInFlight: number
  /** `timeout_sec` when the request has none (or `<= 0`), as the0's `query.DefaultTimeout`. */
  readonly defaultTimeoutSec: number
  /** A larger `timeout_sec` is lowered to this. */
  readonly maxTimeoutSec: number
  /** When set, every route but `/health` needs `Authorization: Bearer <token>`. */
  readonly authToken: string | undefined
  /** A bot's answer (realtime body or `result.json`) larger than this is refused. */
  readonly maxResultBytes: number
  /** Time allowed for each cleanup step (Job deletion, result removal) after the answer is in. */
  readonly cleanupTimeoutSec: number
  /** Log lines of the query Pod returned when its Job fails. */
  readonly failureLogTailLines: number
  /** Namespace, image, MinIO endpoint and Secret of the query Jobs. */
  readonly manifest: ManifestSettings.ManifestSettings
}

export const defaults: QuerySettings = {
  port: queryApiPort,
  host: everyInterface,
  checkHost: false,
  maxBodyBytes: 1024 * 1024,
  maxJobsInFlight: 20,
  defaultTimeoutSec: defaultQueryTimeoutSec,
  maxTimeoutSec: 300,
  authToken: undefined,
  maxResultBytes: 16 * 1024 * 1024,
  cleanupTimeoutSec: 10,
  failureLogTailLines: 200,
  manifest: ManifestSettings.defaults
}

/**
 * The query's deadline in seconds: the request's `timeout_sec` when positive (the0 treats `<= 0` as unset),
 * else the default, never above the cap.
 */
export const effectiveTimeoutSec = (settings: QuerySettings, requested: number | undefined): number =>
  Math.min(requested !== undefined && requested > 0 ? requested : settings.defaultTimeoutSec, settings.maxTimeoutSec)

/**
 * Node's HTTP server timeouts that agree with the query deadline: the request (headers and body, at most
 * `maxBodyBytes`) must arrive within `requestTimeoutMs`; the response may take up to the longest query plus the
 * cleanup allowance, so no answer is cut by the server (the0's 60 s WriteTimeout cut queries longer than 60 s).
 */
export const serverTimeouts = (settings: QuerySettings) => ({
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 60_000,
  /** Idle socket timeout: longer than any query can take. */
  socketTimeoutMs: (settings.maxTimeoutSec + settings.cleanupTimeoutSec + 30) * 1000,
  keepAliveTimeoutMs: 65_000
})

const positiveInt = (n: number): boolean => Number.isSafeInteger(n) && n > 0

/** What is wrong with these settings, naming the setting; empty when usable. */
export const settingsProblems = (settings: QuerySettings): ReadonlyArray<string> => {
  const problems: Array<string> = [...ManifestSettings.settingsProblems(settings.manifest)]
  if (!(Number.isSafeInteger(settings.port) && settings.port >= 0 && settings.port <= 65535))
    problems.push("query port must be an integer from 0 to 65535")
  for (const [name, value] of [
    ["maxBodyBytes", settings.maxBodyBytes],
    ["maxJobsInFlight", settings.maxJobsInFlight],
    ["defaultTimeoutSec", settings.defaultTimeoutSec],
    ["maxTimeoutSec", settings.maxTimeoutSec],
    ["maxResultBytes", settings.maxResultBytes],
    ["cleanupTimeoutSec", settings.cleanupTimeoutSec],
    ["failureLogTailLines", settings.failureLogTailLines]
  ] as const)
    if (!positiveInt(value)) problems.push(`${name} must be a positive integer`)
  if (settings.defaultTimeoutSec > settings.maxTimeoutSec)
    problems.push("defaultTimeoutSec must not exceed maxTimeoutSec")
  if (settings.authToken !== undefined && settings.authToken.trim() === "")
    problems.push("authToken must not be empty when set")
  return problems
}
