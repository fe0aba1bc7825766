/** Label and annotation keys, managed-by values and label-value sanitising (docs/contracts.md, "Names, labels and annotations"). */

export const labelPrefix = "the0.app/"

export const Label = {
  botId: "the0.app/bot-id",
  customBotId: "the0.app/custom-bot-id",
  customBotVersion: "the0.app/custom-bot-version",
  runtime: "the0.app/runtime",
  managedBy: "the0.app/managed-by",
  scheduleId: "the0.app/schedule-id",
  query: "the0.app/query"
} as const

export const Annotation = {
  configHash: "the0.app/config-hash",
  scheduleHash: "the0.app/schedule-hash",
  /** Hash of the bot document alone: tells a template-only change (new image, new setting) from a bot change. */
  documentHash: "the0.app/document-hash"
} as const

/**
 * `the0-runtime dev` only: the host port on the Pod's IP that a container port is mapped to, set by the dev
 * kubelet (bot processes share one machine, so each Pod's query server listens on a port of its own).
 */
export const devHostPortAnnotation = (containerPort: number): string => `dev.the0-runtime/host-port-${containerPort}`

export const ManagedBy = {
  botController: "the0-bot-controller",
  scheduleController: "the0-schedule-controller",
  queryHandler: "the0-query-handler"
} as const

export type ManagedByValue = (typeof ManagedBy)[keyof typeof ManagedBy]

const labelValueMax = 63

/**
 * the0's `sanitizeLabelValue`: keep `[A-Za-z0-9._-]`, truncate to 63, strip leading and trailing
 * non-alphanumerics, and use `bot` when nothing is left.
 */
export const sanitizeLabelValue = (value: string): string => {
  const kept = value.replace(/[^A-Za-z0-9._-]/g, "").slice(0, labelValueMax)
  const trimmed = kept.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "")
  return trimmed === "" ? "bot" : trimmed
}

/** the0's `extractCustomBotID`: the sanitised custom bot name, else the first 8 characters of the bot id. */
export const customBotIdLabel = (name: string | undefined, botId: string): string =>
  name !== undefined && name !== "" ? sanitizeLabelValue(name) : botId.slice(0, 8)
