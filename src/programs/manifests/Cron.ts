/**
 * Cron expressions: the0's 6→5-field conversion for CronJobs (docs/contracts.md, "Cron expressions"), what a Kubernetes CronJob
 * accepts (robfig/cron v3 `ParseStandard` without `@every` or time zones), and the0's
 * `CalculateNextExecutionTime` (6 fields with seconds and descriptors first, then 5 fields).
 *
 * Parsing is Effect's `Cron.parse`, adjusted where robfig differs: `?` means `*`; day-of-week 7 is rejected
 * (robfig's range is 0-6); when both day-of-month and day-of-week are restricted a time matches either of them
 * (robfig ORs them unless one is a bare `*`, so `*\/2` in day-of-month ORs too).
 */
import { Cron, Data, Either, Option } from "effect"
import { kubernetesDescriptor } from "../../domain/CronDescriptors.ts"

export class CronError extends Data.TaggedError("CronError")<{
  readonly expression: string
  readonly message: string
}> {}

const fieldsOf = (expression: string): Array<string> => expression.split(/\s+/).filter((field) => field !== "")

/**
 * the0's `convertToK8sCronFormat`: with exactly 6 whitespace-separated fields the first (seconds) is dropped and
 * the rest joined with single spaces; anything else is returned unchanged. Sub-minute schedules therefore run
 * every minute, as in the0.
 */
export const convertToKubernetesCron = (expression: string): string => {
  const fields = fieldsOf(expression)
  return fields.length === 6 ? fields.slice(1).join(" ") : expression
}

const dayOfWeekAbove6 = (field: string): boolean =>
  field
    .split(",")
    .some((part) => (part.split("/")[0] ?? "").split("-").some((value) => /^\d+$/.test(value) && Number(value) > 6))

/** Smallest and largest value of each field, seconds first. */
const bounds: ReadonlyArray<readonly [number, number]> = [
  [0, 59],
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 6]
]

/**
 * A field as Effect reads it with robfig's meaning: `?` is `*`, and a step beyond the field's range (`*\/60`,
 * which robfig accepts and Effect rejects) keeps only the start value.
 */
const normaliseField = (field: string, [min, max]: readonly [number, number]): string =>
  field
    .replaceAll("?", "*")
    .split(",")
    .map((part) => {
      const stepped = /^(\*|\d+)\/(\d+)$/.exec(part)
      if (stepped === null || Number(stepped[2]) <= max) return part
      return stepped[1] === "*" ? String(min) : (stepped[1] ?? part)
    })
    .join(",")

/** 5 or 6 fields (seconds first) parsed with robfig's meaning, or the reason they are not a valid expression. */
const parseFields = (fields: ReadonlyArray<string>, timeZone: string): Either.Either<Cron.Cron, string> => {
  const offset = 6 - fields.length
  const normalised = fields.map((field, index) => normaliseField(field, bounds[index + offset] ?? [0, 59]))
  const dayOfWeek = normalised[normalised.length - 1] ?? ""
  if (dayOfWeekAbove6(dayOfWeek)) return Either.left(`day-of-week ${JSON.stringify(dayOfWeek)} is outside 0-6`)
  return Cron.parse(normalised.join(" "), timeZone).pipe(
    Either.mapBoth({
      onLeft: (error) =>
        error.input === undefined ? error.message : `${error.message}: ${JSON.stringify(error.input)}`,
      onRight: (cron) =>
        Cron.make({
          seconds: cron.seconds,
          minutes: cron.minutes,
          hours: cron.hours,
          days: cron.days,
          months: cron.months,
          weekdays: cron.weekdays,
          and: false,
          tz: Option.getOrUndefined(cron.tz)
        })
    })
  )
}

/**
 * The schedule a CronJob gets for a document's cron expression: the0's conversion (docs/contracts.md, "Cron expressions") of the trimmed expression,
 * checked as the API server checks it, so that what it would reject (a bad field, 7 fields, `@every 1h`, a time
 * zone, an unknown descriptor) is reported for that schedule instead of failing on every reconcile. With 6
 * fields the dropped seconds field must be valid too.
 */
export const kubernetesSchedule = (expression: string): Either.Either<string, CronError> => {
  const fail = (message: string) => Either.left(new CronError({ expression, message }))
  const trimmed = expression.trim()
  const converted = convertToKubernetesCron(trimmed)
  if (converted === "") return fail("empty cron expression")
  if (trimmed.includes("TZ")) return fail("time zones are not supported in the schedule (TZ or CRON_TZ)")
  if (converted.startsWith("@every"))
    return fail("@every is not supported by Kubernetes CronJobs, use a cron expression or a descriptor")
  if (converted.startsWith("@"))
    return kubernetesDescriptor(converted) === undefined
      ? fail(`unrecognized descriptor ${JSON.stringify(converted)}`)
      : Either.right(converted)
  const fields = fieldsOf(trimmed)
  if (fields.length !== 5 && fields.length !== 6)
    return fail(`expected 5 fields (or 6 with seconds first), found ${fields.length}`)
  return parseFields(fields, "UTC").pipe(
    Either.map(() => converted),
    Either.mapLeft((message) => new CronError({ expression, message }))
  )
}

const unitMillis: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000
}

/** Go's `time.ParseDuration`, in milliseconds. */
export const goDurationMillis = (text: string): number | undefined => {
  if (text === "0") return 0
  const sign = text.startsWith("-") ? -1 : 1
  const body = text.replace(/^[-+]/, "")
  if (body === "") return undefined
  const component = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y
  let total = 0
  let index = 0
  while (index < body.length) {
    component.lastIndex = index
    const match = component.exec(body)
    const unit = match === null ? undefined : unitMillis[match[2] ?? ""]
    if (match === null || unit === undefined) return undefined
    total += Number(match[1]) * unit
    index = component.lastIndex
  }
  return sign * total
}

const yearLimit = 5

/**
 * the0's `CalculateNextExecutionTime` in Unix seconds: the first time strictly after `from` (to the second) that
 * the expression matches, evaluated in UTC unless it starts with `TZ=<zone>` or `CRON_TZ=<zone>`. Accepts 6
 * fields (seconds first), 5 fields, the descriptors and `@every <Go duration>` (`from` truncated to the second
 * plus the duration, at least 1 s). Where robfig returns its zero time (nothing within 5 years, e.g.
 * `0 0 30 2 *`), this is an error.
 */
export const nextExecutionTime = (expression: string, from: Date): Either.Either<number, CronError> => {
  const fail = (message: string) => Either.left(new CronError({ expression, message }))
  if (expression === "") return fail("empty cron expression")
  let spec = expression
  let timeZone = "UTC"
  const zone = /^(?:CRON_TZ|TZ)=(\S+)\s/.exec(spec)
  if (zone !== null) {
    timeZone = zone[1] ?? "UTC"
    spec = spec.slice(zone[0].length).trim()
  }
  const fromSeconds = Math.floor(from.getTime() / 1000)
  if (spec.startsWith("@every ")) {
    const millis = goDurationMillis(spec.slice("@every ".length))
    if (millis === undefined) return fail(`invalid duration in ${JSON.stringify(spec)}`)
    return Either.right(fromSeconds + Math.max(1, Math.floor(millis / 1000)))
  }
  const described = spec.startsWith("@") ? kubernetesDescriptor(spec) : undefined
  if (spec.startsWith("@") && described === undefined) return fail(`unrecognized descriptor ${JSON.stringify(spec)}`)
  const fields = fieldsOf(described ?? spec)
  if (fields.length !== 5 && fields.length !== 6)
    return fail(`expected 6 fields (seconds first) or 5 fields, found ${fields.length}`)
  const parsed = parseFields(fields, timeZone)
  if (Either.isLeft(parsed)) return fail(parsed.left)
  let next: Date
  try {
    next = Cron.next(parsed.right, new Date(fromSeconds * 1000))
  } catch {
    return fail("the expression never matches")
  }
  if (next.getUTCFullYear() > from.getUTCFullYear() + yearLimit)
    return fail(`the expression does not match within ${yearLimit} years`)
  return Either.right(Math.floor(next.getTime() / 1000))
}
