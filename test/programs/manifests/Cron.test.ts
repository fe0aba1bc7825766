import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import * as fc from "fast-check"
import {
  convertToKubernetesCron,
  goDurationMillis,
  kubernetesSchedule,
  nextExecutionTime
} from "../../../src/programs/manifests/Cron.ts"

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0): Date => new Date(Date.UTC(y, mo - 1, d, h, mi, s))
const unix = (date: Date): number => date.getTime() / 1000

const next = (expression: string, from: Date): number | string =>
  Either.match(nextExecutionTime(expression, from), { onLeft: (e) => `error: ${e.message}`, onRight: (n) => n })

const schedule = (expression: string): string =>
  Either.match(kubernetesSchedule(expression), { onLeft: (e) => `error: ${e.message}`, onRight: (s) => s })

describe("convertToKubernetesCron (the0 convertToK8sCronFormat)", () => {
  it.each([
    ["0 9 * * *", "0 9 * * *"],
    ["0 0 9 * * *", "0 9 * * *"],
    ["30 0 9 1 * 0", "0 9 1 * 0"],
    ["0-30 */2 * * 1-5", "0-30 */2 * * 1-5"],
    ["*/10 * * * * *", "* * * * *"],
    ["@hourly", "@hourly"],
    ["0  0   9 * *  *", "0 9 * * *"]
  ])("%j → %j", (input, expected) => {
    expect(convertToKubernetesCron(input)).toBe(expected)
  })
})

describe("kubernetesSchedule", () => {
  it.each([
    ["0 9 * * *", "0 9 * * *"],
    ["0 0 9 * * *", "0 9 * * *"],
    ["  0 9 * * *  ", "0 9 * * *"],
    ["*/15 9-17 * * mon-fri", "*/15 9-17 * * mon-fri"],
    ["0 0 1,15 jan-jun ?", "0 0 1,15 jan-jun ?"],
    ["*/60 * * * *", "*/60 * * * *"],
    ["0 0 * * 0-6", "0 0 * * 0-6"],
    ["@yearly", "@yearly"],
    ["@annually", "@annually"],
    ["@monthly", "@monthly"],
    ["@weekly", "@weekly"],
    ["@daily", "@daily"],
    ["@midnight", "@midnight"],
    ["@hourly", "@hourly"]
  ])("accepts %j as %j", (input, expected) => {
    expect(schedule(input)).toBe(expected)
  })

  it.each([
    ["@every 1h", "@every"],
    ["@every 30s", "@every"],
    ["@reboot", "unrecognized descriptor"],
    ["", "empty"],
    ["   ", "empty"],
    ["* * * * * * *", "found 7"],
    ["* * * *", "found 4"],
    ["60 * * * *", "between 0 and 59"],
    ["0 24 * * *", "between 0 and 23"],
    ["0 0 0 * *", "between 1 and 31"],
    ["0 0 * 13 *", "between 1 and 12"],
    ["0 0 * * 7", "outside 0-6"],
    ["0 0 * * 5-7", "outside 0-6"],
    ["0 0 * * funday", "positive integer"],
    ["5-1 * * * *", "range"],
    ["*/0 * * * *", "greater than 0"],
    ["99 0 9 * * *", "between 0 and 59"],
    ["TZ=UTC 0 9 * * *", "time zones"],
    ["CRON_TZ=Europe/Paris 0 9 * * *", "time zones"],
    ["not a cron", "found 3"]
  ])("rejects %j (%s)", (input, reason) => {
    expect(schedule(input)).toMatch(/^error: /)
    expect(schedule(input)).toContain(reason)
  })
})

describe("nextExecutionTime (the0 CalculateNextExecutionTime)", () => {
  const base = utc(2023, 1, 1, 12, 0, 0) // Sunday noon

  it.each(["* * * * *", "* * * * * *", "0 9 * * *", "30 10 * * 1", "0 0 1 * *", "@hourly", "@daily"])(
    "accepts %j with a time after the base",
    (expression) => {
      const result = next(expression, base)
      expect(typeof result).toBe("number")
      expect(result as number).toBeGreaterThan(unix(base))
    }
  )

  it.each(["* * * * * * *", "60 * * * *", ""])("rejects %j", (expression) => {
    expect(next(expression, base)).toMatch(/^error: /)
  })

  it("every minute advances by one minute", () => {
    expect(next("* * * * *", utc(2023, 1, 1, 12, 30, 0))).toBe(unix(utc(2023, 1, 1, 12, 31, 0)))
  })

  it("daily at 9 from Sunday noon is Monday 09:00", () => {
    expect(next("0 9 * * *", base)).toBe(unix(utc(2023, 1, 2, 9, 0, 0)))
  })

  it("weekly on Monday at 10 is the next Monday", () => {
    expect(next("0 10 * * 1", base)).toBe(unix(utc(2023, 1, 2, 10, 0, 0)))
  })

  it("six fields with seconds: 0 * * * * * from 12:30:30 is 12:31:00", () => {
    expect(next("0 * * * * *", utc(2023, 1, 1, 12, 30, 30))).toBe(unix(utc(2023, 1, 1, 12, 31, 0)))
  })

  it("six fields every second is the next second, fractions of a second ignored", () => {
    expect(next("* * * * * *", new Date(Date.UTC(2023, 0, 1, 12, 0, 0, 750)))).toBe(unix(base) + 1)
  })

  it("descriptors", () => {
    expect(next("@hourly", base)).toBe(unix(utc(2023, 1, 1, 13)))
    expect(next("@daily", base)).toBe(unix(utc(2023, 1, 2)))
    expect(next("@midnight", base)).toBe(unix(utc(2023, 1, 2)))
    expect(next("@weekly", base)).toBe(unix(utc(2023, 1, 8)))
    expect(next("@monthly", base)).toBe(unix(utc(2023, 2, 1)))
    expect(next("@yearly", base)).toBe(unix(utc(2024, 1, 1)))
    expect(next("@annually", base)).toBe(unix(utc(2024, 1, 1)))
  })

  it("@every adds the duration to the base truncated to the second (at least 1 s)", () => {
    expect(next("@every 1h30m", base)).toBe(unix(base) + 5400)
    expect(next("@every 1.5s", new Date(base.getTime() + 400))).toBe(unix(base) + 1)
    expect(next("@every 100ms", base)).toBe(unix(base) + 1)
    expect(next("@every soon", base)).toMatch(/^error: /)
  })

  it("day-of-month and day-of-week restricted together match either (robfig), even with a step", () => {
    // 2023-01-02 is a Monday and an even day: */2 matches odd days, so only day-of-week matches.
    expect(next("0 0 */2 * 1", base)).toBe(unix(utc(2023, 1, 2)))
    expect(next("0 0 15 * 5", base)).toBe(unix(utc(2023, 1, 6)))
  })

  it("question mark means any", () => {
    expect(next("0 9 ? * *", base)).toBe(unix(utc(2023, 1, 2, 9)))
  })

  it("a step beyond the range keeps only the start (robfig)", () => {
    expect(next("*/60 * * * *", base)).toBe(unix(utc(2023, 1, 1, 13)))
  })

  it("a TZ= prefix evaluates in that zone", () => {
    // 12:00 UTC is 07:00 in New York, so 09:00 there is 14:00 UTC the same day.
    expect(next("TZ=America/New_York 0 9 * * *", base)).toBe(unix(utc(2023, 1, 1, 14)))
  })

  it("an expression that never matches is an error, not robfig's zero time", () => {
    expect(next("0 0 30 2 *", base)).toMatch(/^error: /)
  })

  it.prop(
    "5 fields equal the same 6 fields with seconds 0",
    [
      fc.constantFrom("*", "0", "*/5", "7,19", "10-20"),
      fc.constantFrom("*", "9", "*/3", "0-12"),
      fc.constantFrom("*", "1", "15", "1-10/3"),
      fc.constantFrom("*", "jan", "6", "2-11"),
      fc.constantFrom("*", "mon-fri", "0", "6"),
      fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2090-01-01T00:00:00Z") })
    ],
    ([minute, hour, day, month, weekday, from]) => {
      const five = nextExecutionTime(`${minute} ${hour} ${day} ${month} ${weekday}`, from)
      const six = nextExecutionTime(`0 ${minute} ${hour} ${day} ${month} ${weekday}`, from)
      expect(six).toStrictEqual(five)
      if (Either.isRight(five)) expect(five.right).toBeGreaterThan(from.getTime() / 1000)
    }
  )
})

describe("goDurationMillis (Go time.ParseDuration)", () => {
  it.each([
    ["0", 0],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["1.5s", 1_500],
    ["-2m", -120_000],
    ["300ms", 300],
    ["1us", 0.001],
    ["2µs", 0.002]
  ])("%j → %d ms", (text, millis) => {
    expect(goDurationMillis(text)).toBeCloseTo(millis, 6)
  })

  it.each(["", "1", "h", "1x", "1h 30m", "--1h"])("rejects %j", (text) => {
    expect(goDurationMillis(text)).toBeUndefined()
  })
})
