/** What the API server rejects with 422 in the objects we create: names, label keys and label values. */
import type { Kind, KubeObject } from "./Kube.ts"

export interface FieldViolation {
  readonly field: string
  readonly message: string
}

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const labelValuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

/** Longest name the API server accepts per kind: CronJob names leave room for the Job suffix, Job names fit a label. */
export const maxNameLength: Readonly<Record<Kind, number>> = { Pod: 253, Secret: 253, Lease: 253, Job: 63, CronJob: 52 }

export const validateName = (kind: Kind, name: string, field = "metadata.name"): Array<FieldViolation> => {
  const out: Array<FieldViolation> = []
  if (name === "") return [{ field, message: "Required value: name or generateName is required" }]
  const max = maxNameLength[kind]
  if (name.length > max)
    out.push({ field, message: `Invalid value: ${JSON.stringify(name)}: must be no more than ${max} characters` })
  if (!dns1123Subdomain.test(name))
    out.push({
      field,
      message: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`
    })
  return out
}

export const validateLabelKey = (key: string, field: string): Array<FieldViolation> => {
  const slash = key.indexOf("/")
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined
  const name = slash >= 0 ? key.slice(slash + 1) : key
  const out: Array<FieldViolation> = []
  if (prefix !== undefined && (prefix.length > 253 || !dns1123Subdomain.test(prefix)))
    out.push({ field, message: `Invalid value: ${JSON.stringify(key)}: prefix part must be a DNS-1123 subdomain` })
  if (name.length === 0 || name.length > 63 || !qualifiedName.test(name))
    out.push({
      field,
      message: `Invalid value: ${JSON.stringify(key)}: name part must consist of alphanumeric characters, '-', '_' or '.', must start and end with an alphanumeric character, and be at most 63 characters`
    })
  return out
}

export const validateLabelValue = (value: string, field: string): Array<FieldViolation> =>
  value.length <= 63 && labelValuePattern.test(value)
    ? []
    : [
        {
          field,
          message: `Invalid value: ${JSON.stringify(value)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character, and be at most 63 characters`
        }
      ]

export const isValidLabelValue = (value: string): boolean => validateLabelValue(value, "").length === 0

export const validateLabels = (
  labels: Readonly<Record<string, string>> | undefined,
  field: string
): Array<FieldViolation> =>
  Object.entries(labels ?? {}).flatMap(([k, v]) => [
    ...validateLabelKey(k, `${field}`),
    ...validateLabelValue(v, `${field}[${k}]`)
  ])

const templateLabels = (object: KubeObject): Array<FieldViolation> => {
  switch (object.kind) {
    case "Job":
      return validateLabels(object.spec.template.metadata?.labels, "spec.template.metadata.labels")
    case "CronJob":
      return [
        ...validateLabels(object.spec.jobTemplate.metadata?.labels, "spec.jobTemplate.metadata.labels"),
        ...validateLabels(
          object.spec.jobTemplate.spec.template.metadata?.labels,
          "spec.jobTemplate.spec.template.metadata.labels"
        )
      ]
    default:
      return []
  }
}

/** Every violation the API server would report for this object's name and labels. */
export const validateObject = (object: KubeObject): Array<FieldViolation> => [
  ...(object.metadata.generateName !== undefined && object.metadata.name === ""
    ? []
    : validateName(object.kind, object.metadata.name)),
  ...validateLabels(object.metadata.labels, "metadata.labels"),
  ...Object.keys(object.metadata.annotations ?? {}).flatMap((k) => validateLabelKey(k, "metadata.annotations")),
  ...templateLabels(object)
]
