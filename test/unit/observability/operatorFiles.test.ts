/**
 * The operator's files in ops/ stay true to the code: the Grafana dashboard is well formed, and every
 * metric that it or the alert rules query is one that src/ defines. A renamed metric otherwise leaves
 * an empty panel or an alert that can never fire, and nothing says so.
 */
import { describe, expect, it } from "@effect/vitest"
import { parser } from "@prometheus-io/lezer-promql"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import YAML from "yaml"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const dashboardFile = "ops/grafana/dashboards/event-sourced-actors.json"
const alertsFile = "ops/prometheus/alerts.yml"
const prometheusFile = "ops/prometheus/prometheus.yml"

const read = (file: string) => readFileSync(path.join(root, file), "utf8")

// ---------------------------------------------------------------------------------------------
// PromQL, read by Prometheus's own grammar: the metric names an expression reads.

/**
 * Grafana's interval variables stand where PromQL wants a duration; others stand in label values
 * (strings) and need nothing.
 */
const withGrafanaIntervals = (expr: string) => expr.replace(/\$\{?__(rate_)?interval\}?/g, "5m")

/** The metric names of the vector selectors in a PromQL expression; throws at a syntax error. */
const metricNames = (expr: string): Array<string> => {
  const source = withGrafanaIntervals(expr)
  const names: Array<string> = []
  parser.parse(source).iterate({
    enter: (node) => {
      if (node.type.isError) throw new Error(`not PromQL at ${node.from}: ${source}`)
      if (node.name === "Identifier" && node.node.parent?.name === "VectorSelector") names.push(source.slice(node.from, node.to))
    }
  })
  return names
}

// ---------------------------------------------------------------------------------------------
// src/: the metrics the code defines.

type MetricKind = "counter" | "gauge" | "histogram" | "summary" | "frequency"

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(full)
    return entry.name.endsWith(".ts") ? [full] : []
  })

/** The calls that define a metric, with its name as their first argument, and the kind each makes. */
const definers: ReadonlyArray<readonly [call: string, kind: MetricKind]> = [
  ["Metric.counter(", "counter"],
  ["Metric.gauge(", "gauge"],
  ["Metric.histogram(", "histogram"],
  ["Metric.summary(", "summary"],
  ["Metric.frequency(", "frequency"],
  // src/observability/histograms.ts: Metric.histogram in seconds, fed milliseconds.
  ["durationHistogram(", "histogram"]
]

/** The string literal at `at`, whitespace (line breaks too) before it skipped; undefined if there is none. */
const stringAt = (text: string, at: number): string | undefined => {
  let i = at
  while (i < text.length && /\s/.test(text[i]!)) i++
  const quote = text[i]
  if (quote !== "\"" && quote !== "'" && quote !== "`") return undefined
  const end = text.indexOf(quote, i + 1)
  return end === -1 ? undefined : text.slice(i + 1, end)
}

const definedMetrics = (): Map<string, MetricKind> => {
  const defined = new Map<string, MetricKind>()
  for (const file of sourceFiles(path.join(root, "src"))) {
    const text = readFileSync(file, "utf8")
    for (const [call, kind] of definers) {
      for (let at = text.indexOf(call); at !== -1; at = text.indexOf(call, at + call.length)) {
        // A name passed in a variable (a definer's own body) is not a definition.
        const name = stringAt(text, at + call.length)
        if (name !== undefined) defined.set(name, kind)
      }
    }
  }
  return defined
}

/** Series Prometheus itself writes for every target it scrapes, whatever the target exposes. */
const scrapeSeries = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"])

/** A histogram is scraped as `_bucket`, `_sum` and `_count` series; a summary as `_sum` and `_count`. */
const isDefined = (name: string, defined: ReadonlyMap<string, MetricKind>): boolean => {
  if (defined.has(name) || scrapeSeries.has(name)) return true
  const suffix = /_(bucket|sum|count)$/.exec(name)
  if (suffix === null) return false
  const kind = defined.get(name.slice(0, suffix.index))
  return kind === "histogram" || (kind === "summary" && suffix[1] !== "bucket")
}

// ---------------------------------------------------------------------------------------------
// The files' contents: the dashboard is JSON, the rules and the configuration YAML.

interface Target {
  readonly refId?: string
  readonly expr?: string
  readonly datasource?: { readonly uid?: string }
}

interface Panel {
  readonly id?: number
  readonly type?: string
  readonly title?: string
  readonly description?: string
  readonly datasource?: { readonly type?: string; readonly uid?: string }
  readonly targets?: ReadonlyArray<Target>
  readonly panels?: ReadonlyArray<Panel>
}

interface Dashboard {
  readonly panels: ReadonlyArray<Panel>
  readonly templating?: {
    readonly list: ReadonlyArray<{ readonly name: string; readonly type: string; readonly query?: string | { readonly query?: string } }>
  }
}

/** Every panel, those inside collapsed rows included. */
const allPanels = (panels: ReadonlyArray<Panel>): Array<Panel> => panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])])

/** Rows only lay panels out: they query nothing. */
const isRow = (panel: Panel) => panel.type === "row"

const describePanel = (panel: Panel) => `panel ${panel.id} "${panel.title}"`

/** The PromQL in a Grafana variable's query: `label_values(<selector>, <label>)` or `query_result(<expr>)`. */
const variableExpr = (query: string): string | undefined =>
  /^label_values\((.*),\s*\w+\)$/s.exec(query.trim())?.[1] ?? /^query_result\((.*)\)$/s.exec(query.trim())?.[1]

interface RuleFile {
  readonly groups: ReadonlyArray<{ readonly rules: ReadonlyArray<{ readonly alert?: string; readonly record?: string; readonly expr: string }> }>
}

/** Each rule's expression, with the name of its alert (or recording rule). */
const ruleExprs = (text: string) =>
  (YAML.parse(text) as RuleFile).groups.flatMap((group) =>
    group.rules.map((rule) => ({ rule: rule.alert ?? rule.record ?? "(unnamed)", expr: String(rule.expr) }))
  )

/** The `rule_files:` of a Prometheus configuration. */
const ruleFiles = (text: string): Array<string> => (YAML.parse(text) as { readonly rule_files?: Array<string> }).rule_files ?? []

// ---------------------------------------------------------------------------------------------

describe("reading PromQL", () => {
  it("finds metric names, not functions, aggregations, labels, label values, ranges or numbers", () => {
    expect(metricNames(
      "histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{job=~\"$job\", route=\"/orders/{id}\"}[$__rate_interval])))"
    )).toEqual(["http_request_duration_seconds_bucket"])
    expect(metricNames("max by (destination) (outbox_backlog) > 1000")).toEqual(["outbox_backlog"])
    expect(metricNames("sum(rate(a_total[5m])) without (instance) / ignoring (x) group_left (y) b offset 1h and on() vector(1)"))
      .toEqual(["a_total", "b"])
    expect(metricNames("time() - process_start_time_seconds{instance=~\"${instance}\"} > bool 1e3")).toEqual([
      "process_start_time_seconds"
    ])
    expect(() => metricNames("sum(rate(a_total[5m])")).toThrow(/not PromQL/)
  })
})

describe("the operator's files", () => {
  const dashboard = JSON.parse(read(dashboardFile)) as Dashboard
  const panels = allPanels(dashboard.panels)
  const queryPanels = panels.filter((panel) => !isRow(panel))

  it("the dashboard has unique panel ids, and every panel a description and queries through ${datasource}", () => {
    const seen = new Set<number>()
    const problems: Array<string> = []
    for (const panel of panels) {
      if (typeof panel.id !== "number") problems.push(`${describePanel(panel)}: no id`)
      else if (seen.has(panel.id)) problems.push(`${describePanel(panel)}: id used twice`)
      else seen.add(panel.id)
    }
    for (const panel of queryPanels) {
      if (panel.datasource?.uid !== "${datasource}") problems.push(`${describePanel(panel)}: datasource is not \${datasource}`)
      if (!panel.description?.trim()) problems.push(`${describePanel(panel)}: no description`)
      const targets = panel.targets ?? []
      if (targets.length === 0) problems.push(`${describePanel(panel)}: no target`)
      for (const target of targets) {
        if (!target.expr?.trim()) problems.push(`${describePanel(panel)} target ${target.refId}: no expr`)
        if (target.datasource !== undefined && target.datasource.uid !== "${datasource}") {
          problems.push(`${describePanel(panel)} target ${target.refId}: datasource is not \${datasource}`)
        }
      }
    }
    const datasourceVariable = dashboard.templating?.list.find((variable) => variable.name === "datasource")
    if (datasourceVariable?.type !== "datasource" || datasourceVariable.query !== "prometheus") {
      problems.push("templating: no Prometheus variable named datasource")
    }
    expect(queryPanels.length).toBeGreaterThan(0)
    expect(problems, dashboardFile).toEqual([])
  })

  it("every metric the dashboard and the alert rules query is defined in src/", () => {
    const defined = definedMetrics()
    const uses: Array<{ readonly where: string; readonly expr: string }> = []
    for (const panel of queryPanels) {
      for (const target of panel.targets ?? []) {
        uses.push({ where: `${dashboardFile}: ${describePanel(panel)} target ${target.refId}`, expr: target.expr ?? "" })
      }
    }
    for (const variable of dashboard.templating?.list ?? []) {
      const query = typeof variable.query === "string" ? variable.query : variable.query?.query
      const expr = variable.type === "query" && query !== undefined ? variableExpr(query) : undefined
      if (expr !== undefined) uses.push({ where: `${dashboardFile}: variable ${variable.name}`, expr })
    }
    const rules = ruleExprs(read(alertsFile))
    expect(rules.length, `${alertsFile}: no rule expressions found`).toBeGreaterThan(0)
    for (const { expr, rule } of rules) uses.push({ where: `${alertsFile}: ${rule}`, expr })

    const missing = uses.flatMap(({ expr, where }) =>
      metricNames(expr).filter((name) => !isDefined(name, defined)).map((name) => `${where}: ${name}`)
    )
    expect([...new Set(missing)], "metrics queried but defined nowhere in src/ (see definers)")
      .toEqual([])
  })

  it("prometheus.yml loads the alert rules next to it", () => {
    const files = ruleFiles(read(prometheusFile))
    expect(files, `${prometheusFile}: rule_files`).toContain("alerts.yml")
    const absent = files.filter((file) => !existsSync(path.join(root, path.dirname(prometheusFile), file)))
    expect(absent, `${prometheusFile}: rule_files that do not exist`).toEqual([])
  })
})
