/**
 * The Grafana dashboard and the Prometheus alert rules in deploy/ (docs/operations.md, "Observability" and
 * "Alerts"): every metric their PromQL names is one the process really exports (read from the exposition of the
 * real registry, with the QueryServer's metrics registered), the rule file has the shape Prometheus and the
 * Prometheus Operator load, each runbook names a section that exists, and the alerts the operator relies on fire
 * when, and only when, they should.
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parse } from "yaml"
import { Metrics, type MetricsService } from "../../src/programs/Metrics.ts"
import { queryMetrics } from "../../src/programs/query/QueryMetrics.ts"

const repoFile = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8")

const dashboard = JSON.parse(repoFile("deploy/grafana/the0-runtime-dashboard.json"))
const rules = parse(repoFile("deploy/prometheus/the0-runtime-alerts.yaml"))

interface Rule {
  readonly alert: string
  readonly expr: string
  readonly for: string
  readonly labels: Record<string, string>
  readonly annotations: Record<string, string>
}
const alerts: ReadonlyArray<Rule> = (rules?.groups ?? []).flatMap((g: { rules?: ReadonlyArray<Rule> }) => g.rules ?? [])

/** Every `expr` of the dashboard, rows' nested panels included. */
const dashboardExprs = (panels: ReadonlyArray<{ panels?: unknown; targets?: ReadonlyArray<{ expr?: string }> }>) =>
  panels.flatMap(
    (p): ReadonlyArray<string> => [
      ...(p.targets ?? []).flatMap((t) => (t.expr === undefined ? [] : [t.expr])),
      ...dashboardExprs((p.panels as typeof panels | undefined) ?? [])
    ]
  )

/** The series names of a Prometheus text exposition: a histogram is only its _bucket, _sum and _count series. */
const exportedSeries = (exposition: string): ReadonlySet<string> =>
  new Set(
    [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
      type === "histogram" || type === "summary" ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name as string]
    )
  )

const keywords = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"])

/**
 * The metric names a PromQL expression reads: identifiers once label matchers, grouping clauses, ranges and
 * strings are removed, other than function names (followed by a parenthesis), keywords and Grafana variables.
 */
const metricNames = (expr: string): ReadonlyArray<string> => {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\boffset\s+\w+/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
  return [...bare.matchAll(/(\$?)([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)]
    .filter(([, dollar, name, call]) => dollar === "" && call === undefined && !keywords.has(name as string))
    .map(([, , name]) => name as string)
}

const withMetrics = <A>(f: (m: MetricsService) => Effect.Effect<A>) =>
  Effect.flatMap(Metrics, f).pipe(Effect.provide(Metrics.layer))

const exportedNow = (m: MetricsService) =>
  Effect.promise(() => {
    queryMetrics(m)
    return m.registry.metrics()
  })

/** Instant samples of the exposition: name, labels and value. */
const samples = (exposition: string) =>
  [...exposition.matchAll(/^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/gm)].map(([, name, labels, value]) => ({
    name: name as string,
    labels: Object.fromEntries([...(labels ?? "").matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k, v])),
    value: Number(value)
  }))

const compare = (op: string, a: number, b: number) => (op === ">" ? a > b : op === "<" ? a < b : a === b)

/** A gauge, or `min_over_time` of one: on a scrape that has held for the whole range, the same values. */
const series = String.raw`(?:min_over_time\((\w+)\[\w+\]\)|(\w+))`

/**
 * Evaluates an alert over gauges on a scrape that has held long enough (so `min_over_time` is the value itself):
 * `AGG by (labels) (SERIES) OP n`, `AGG by (labels) (SERIES and on (instance) SERIES == 1) OP n` or
 * `(AGG(SERIES) or vector(0)) OP n`; the label sets it fires for. Other shapes are not evaluated here.
 */
const firing = (expr: string, exposition: string): ReadonlyArray<string> => {
  const m = expr
    .trim()
    .match(
      new RegExp(
        String.raw`^(\()?(sum|min|max)(?: by \(([^)]*)\))? ?\(${series}(?: and on \(instance\) ${series} == 1)?\)( or vector\(0\)\))? (>|<|==) ([\d.]+)$`
      )
    )
  if (m === null) throw new Error(`not a gauge alert: ${expr}`)
  const [, open, agg, by, overTime, plain, filterOverTime, filterPlain, orZero, op, threshold] = m
  if ((open === undefined) !== (orZero === undefined)) throw new Error(`unbalanced: ${expr}`)
  const scraped = samples(exposition)
  const filter = filterOverTime ?? filterPlain
  const kept = (instance: string | undefined) =>
    filter === undefined || scraped.some((s) => s.name === filter && s.labels.instance === instance && s.value === 1)
  const keys = (by ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
  const groups = new Map<string, Array<number>>()
  for (const s of scraped.filter((s) => s.name === (overTime ?? plain) && kept(s.labels.instance))) {
    const key = keys.map((k) => `${k}=${s.labels[k] ?? ""}`).join(",")
    groups.set(key, [...(groups.get(key) ?? []), s.value])
  }
  if (orZero !== undefined && groups.size === 0) groups.set("", [0])
  const reduce = (values: ReadonlyArray<number>) =>
    agg === "sum" ? values.reduce((a, b) => a + b, 0) : agg === "min" ? Math.min(...values) : Math.max(...values)
  return [...groups].filter(([, values]) => compare(op as string, reduce(values), Number(threshold))).map(([k]) => k)
}

/** The alert about `metric`: the first metric its expression reads, with that selector. */
const alertOn = (metric: string, selector = ""): Rule => {
  const found = alerts.filter((a) => metricNames(a.expr)[0] === metric && a.expr.includes(`${metric}${selector}`))
  expect(found, `one alert on ${metric}${selector}`).toHaveLength(1)
  return found[0] as Rule
}

const minutes = (duration: string) => {
  const m = duration.match(/^(\d+)([smh])$/)
  if (m === null) throw new Error(`not a duration: ${duration}`)
  return (Number(m[1]) * { s: 1 / 60, m: 1, h: 60 }[m[2] as "s" | "m" | "h"]) as number
}

/** GitHub's anchors of the Markdown headings of a file. */
const anchors = (markdown: string) =>
  new Set(
    [...markdown.matchAll(/^#{1,6} (.+)$/gm)].map(([, title]) =>
      (title as string)
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, "")
        .replace(/ /g, "-")
    )
  )

describe("the dashboard and the alert rules", () => {
  it("the metric-name reader finds the metrics and nothing else", () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (mode, le) (rate(the0_x_bucket{route="/query", a=~"b|c"}[$__rate_interval])))'
      )
    ).toEqual(["the0_x_bucket"])
    expect(metricNames("(sum(a) or vector(0)) < 1 and on (instance) b offset 5m")).toEqual(["a", "b"])
  })

  it.effect("every metric the dashboard queries is exported by the process", () =>
    withMetrics((m) =>
      Effect.map(exportedNow(m), (exposition) => {
        const exported = exportedSeries(exposition)
        const exprs = dashboardExprs(dashboard.panels)
        expect(exprs.length).toBeGreaterThan(0)
        for (const expr of exprs) {
          const names = metricNames(expr)
          expect(names.length, expr).toBeGreaterThan(0)
          for (const name of names) expect(exported, `${name} in ${expr}`).toContain(name)
        }
      })
    )
  )

  it.effect("every metric an alert reads is exported by the process", () =>
    withMetrics((m) =>
      Effect.map(exportedNow(m), (exposition) => {
        const exported = exportedSeries(exposition)
        expect(alerts.length).toBeGreaterThan(0)
        for (const alert of alerts) {
          const names = metricNames(alert.expr)
          expect(names.length, alert.alert).toBeGreaterThan(0)
          for (const name of names) expect(exported, `${name} in ${alert.alert}`).toContain(name)
        }
      })
    )
  )

  it("the rule file is a list of named groups of well-formed alerts with a runbook that exists", () => {
    const sections = anchors(repoFile("docs/operations.md"))
    expect(Array.isArray(rules.groups)).toBe(true)
    for (const group of rules.groups) {
      expect(typeof group.name).toBe("string")
      expect(Array.isArray(group.rules)).toBe(true)
    }
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length)
    for (const alert of alerts) {
      expect(alert.alert).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/)
      expect(typeof alert.expr, alert.alert).toBe("string")
      expect(alert.for, alert.alert).toMatch(/^\d+[smh]$/)
      expect(["critical", "warning"], alert.alert).toContain(alert.labels?.severity)
      expect(typeof alert.annotations?.summary, alert.alert).toBe("string")
      const runbook = alert.annotations?.runbook ?? alert.annotations?.runbook_url
      expect(runbook, alert.alert).toMatch(/^docs\/operations\.md#/)
      expect(sections, `${alert.alert}: ${runbook}`).toContain((runbook as string).split("#")[1])
    }
  })

  it("bots whose reconciles keep failing page someone after 10 minutes, not before", () => {
    const alert = alertOn("the0_reconcile_total", '{outcome="error"}')
    expect(alert.labels.severity).toBe("critical")
    expect(minutes(alert.for)).toBe(10)
  })

  it.effect("the leader's work queue not emptying for 10 minutes pages someone; a follower's full queue does not", () =>
    withMetrics((m) =>
      Effect.gen(function* () {
        const alert = alertOn("the0_workqueue_depth")
        expect(alert.labels.severity).toBe("critical")
        const window = alert.expr.match(/the0_workqueue_depth\[(\w+)\]/)?.[1] as string
        expect(minutes(window) + minutes(alert.for)).toBe(10)
        m.queueDepth.set({ controller: "bot" }, 0)
        m.queueDepth.set({ controller: "schedule" }, 3)
        m.leader.set(0)
        expect(firing(alert.expr, yield* exportedNow(m))).toEqual([])
        m.leader.set(1)
        expect(firing(alert.expr, yield* exportedNow(m))).toEqual(["controller=schedule"])
      })
    )
  )

  it.effect("a refused mass deletion pages at once, for the leader's controller that refused, and clears with it", () =>
    withMetrics((m) =>
      Effect.gen(function* () {
        const alert = alertOn("the0_mass_delete_blocked")
        expect(alert.labels.severity).toBe("critical")
        expect(minutes(alert.for)).toBe(0)
        m.leader.set(1)
        m.massDeleteBlocked.set({ controller: "bot" }, 0)
        m.massDeleteBlocked.set({ controller: "schedule" }, 0)
        expect(firing(alert.expr, yield* exportedNow(m))).toEqual([])
        m.massDeleteBlocked.set({ controller: "bot" }, 1)
        expect(firing(alert.expr, yield* exportedNow(m))).toEqual(["controller=bot"])
        // a replica that lost the lease keeps the gauge it last set
        m.leader.set(0)
        expect(firing(alert.expr, yield* exportedNow(m))).toEqual([])
      })
    )
  )

  it.effect("no leader pages after 2 minutes, also when no replica reports at all", () =>
    withMetrics((m) =>
      Effect.gen(function* () {
        const alert = alertOn("the0_leader")
        expect(alert.labels.severity).toBe("critical")
        expect(minutes(alert.for)).toBe(2)
        m.leader.set(1)
        expect(firing(alert.expr, yield* exportedNow(m))).toEqual([])
        m.leader.set(0)
        expect(firing(alert.expr, yield* exportedNow(m))).toHaveLength(1)
        expect(firing(alert.expr, "")).toHaveLength(1)
      })
    )
  )

  it.effect("ingest that has not applied its backlog, or lost NATS, pages; retries warn", () =>
    withMetrics((m) =>
      Effect.gen(function* () {
        const backlog = alertOn("the0_ingest_caught_up")
        const bus = alertOn("the0_event_bus_connected")
        const retries = alertOn("the0_events_total", '{outcome="retry"}')
        expect([backlog.labels.severity, bus.labels.severity, retries.labels.severity]).toEqual([
          "critical",
          "critical",
          "warning"
        ])
        expect([minutes(backlog.for), minutes(bus.for), minutes(retries.for)]).toEqual([10, 5, 10])
        m.ingestCaughtUp.set(1)
        m.eventBusConnected.set(1)
        const healthy = yield* exportedNow(m)
        expect([...firing(backlog.expr, healthy), ...firing(bus.expr, healthy)]).toEqual([])
        m.ingestCaughtUp.set(0)
        m.eventBusConnected.set(0)
        const lagging = yield* exportedNow(m)
        expect([firing(backlog.expr, lagging), firing(bus.expr, lagging)]).toEqual([["instance="], ["instance="]])
      })
    )
  )

  it("more than 5% of queries failing for 10 minutes pages someone; 429s warn", () => {
    const errors = alertOn("the0_query_requests_total", '{route="/query", status=~"5.."}')
    expect(errors.labels.severity).toBe("critical")
    expect(minutes(errors.for)).toBe(10)
    expect(errors.expr).toMatch(/\/\s*sum\(rate\(the0_query_requests_total\{route="\/query"\}\[5m\]\)\) > 0\.05\s*$/)
    const saturated = alertOn("the0_query_jobs_rejected_total")
    expect(saturated.labels.severity).toBe("warning")
  })
})
