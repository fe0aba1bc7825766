/** Builds the tagged KubeApi error the API server's Status answer maps to. */
import {
  KubeAlreadyExists,
  type KubeApiError,
  KubeConflict,
  KubeError,
  KubeGone,
  KubeInvalid,
  KubeNotFound,
  type RequestKind
} from "./KubeApi.ts"

export interface StatusInput {
  readonly kind: RequestKind
  readonly name?: string | undefined
  readonly code: number
  readonly reason: string
  readonly detail: string
  readonly causes?: ReadonlyArray<{ readonly field: string; readonly message: string }>
  readonly cause?: unknown
}

/** Maps an HTTP status code and reason to the error class callers match on with `catchTag`. */
export const statusError = (input: StatusInput): KubeApiError => {
  const fields = {
    kind: input.kind,
    code: input.code,
    reason: input.reason,
    detail: input.detail,
    ...(input.name === undefined ? {} : { name: input.name })
  }
  switch (input.code) {
    case 404:
      return new KubeNotFound(fields)
    case 409:
      return input.reason === "AlreadyExists" ? new KubeAlreadyExists(fields) : new KubeConflict(fields)
    case 410:
      return new KubeGone(fields)
    case 422:
      return new KubeInvalid({ ...fields, causes: input.causes ?? [] })
    default:
      return new KubeError(input.cause === undefined ? fields : { ...fields, cause: input.cause })
  }
}

/** The `reason` the API server uses for a status code when none is given. */
export const defaultReason = (code: number): string =>
  ({
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout"
  })[code] ?? "Unknown"
