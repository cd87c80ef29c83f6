/**
 * The operator's files in ops/ stay true to the code: the Grafana dashboard is well formed, and every
 * metric that it or the alert rules query is one that src/ defines. A renamed metric otherwise leaves
 * an empty panel or an alert that can never fire, and nothing says so.
 */
import { describe, expect, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../..", import.meta.url))
const dashboardFile = "ops/grafana/dashboards/event-sourced-actors.json"
const alertsFile = "ops/prometheus/alerts.yml"
const prometheusFile = "ops/prometheus/prometheus.yml"

const read = (file: string) => readFileSync(path.join(root, file), "utf8")

// ---------------------------------------------------------------------------------------------
// PromQL: the metric names an expression reads.

/** Followed by a parenthesised list of label names, not of expressions. */
const labelListKeywords = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"])

/** Words that are not metric names although nothing after them says so: operators, aggregations, literals. */
const keywords = new Set([
  ...labelListKeywords,
  "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan",
  "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
  "quantile", "limitk", "limit_ratio"
])

const isNameStart = (c: string) => /[A-Za-z_:]/.test(c)
const isNamePart = (c: string) => /[A-Za-z0-9_:]/.test(c)

/**
 * The metric names in a PromQL expression, in order of appearance. Walks it once: label matchers
 * (`{...}`), range selectors (`[...]`), strings, numbers and durations are skipped; a name followed by
 * `(` is a function; the list after `by`, `without`, `on` and the like holds label names.
 */
const metricNames = (expr: string): Array<string> => {
  const names: Array<string> = []
  let i = 0
  const skipSpace = () => {
    while (i < expr.length && /\s/.test(expr[i]!)) i++
  }
  const skipString = () => {
    const quote = expr[i++]
    while (i < expr.length && expr[i] !== quote) i += expr[i] === "\\" ? 2 : 1
    i++
  }
  /** From an opening bracket to just past the one that closes it; strings inside may hold brackets. */
  const skipBracketed = (open: string, close: string) => {
    let depth = 0
    while (i < expr.length) {
      const c = expr[i]!
      if (c === "\"" || c === "'" || c === "`") {
        skipString()
        continue
      }
      if (c === open) depth++
      if (c === close && --depth === 0) {
        i++
        return
      }
      i++
    }
  }
  const readWhile = (part: (c: string) => boolean) => {
    const start = i
    while (i < expr.length && part(expr[i]!)) i++
    return expr.slice(start, i)
  }
  const readWord = () => readWhile(isNamePart)

  while (i < expr.length) {
    const c = expr[i]!
    if (c === "{") skipBracketed("{", "}")
    else if (c === "[") skipBracketed("[", "]")
    else if (c === "\"" || c === "'" || c === "`") skipString()
    else if (/[0-9.]/.test(c)) readWhile((d) => /[0-9A-Za-z_.]/.test(d)) // a number or a duration: 0.99, 1e3, 5m
    else if (c === "$") {
      // A Grafana variable outside a selector: $name or ${name}.
      i++
      if (expr[i] === "{") skipBracketed("{", "}")
      else readWord()
    } else if (isNameStart(c)) {
      const word = readWord()
      skipSpace()
      if (labelListKeywords.has(word.toLowerCase())) {
        if (expr[i] === "(") skipBracketed("(", ")")
      } else if (!keywords.has(word.toLowerCase()) && expr[i] !== "(") {
        names.push(word)
      }
    } else i++
  }
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
// The files' contents, read as little as needed: the dashboard is JSON; the YAML files are read by line.

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

const unquote = (value: string) => value.trim().replace(/^(["'])(.*)\1$/s, "$2")

const indentOf = (line: string) => line.length - line.trimStart().length

/** Each rule's `expr:` with the name of its `alert:` (or `record:`); a block scalar (`expr: |`) is joined. */
const ruleExprs = (text: string): Array<{ readonly rule: string; readonly expr: string }> => {
  const lines = text.split("\n")
  const rules: Array<{ rule: string; expr: string }> = []
  let rule = "(unnamed)"
  for (let i = 0; i < lines.length; i++) {
    const named = /^\s*(?:-\s*)?(?:alert|record):\s*(.+)$/.exec(lines[i]!)
    if (named !== null) rule = unquote(named[1]!)
    const expr = /^(\s*)(?:-\s*)?expr:\s*(.*)$/.exec(lines[i]!)
    if (expr === null) continue
    let value = expr[2]!
    if (/^[|>][-+]?$/.test(value.trim())) {
      const indent = expr[1]!.length
      const block: Array<string> = []
      while (i + 1 < lines.length && (lines[i + 1]!.trim() === "" || indentOf(lines[i + 1]!) > indent)) block.push(lines[++i]!.trim())
      value = block.join(" ")
    }
    rules.push({ rule, expr: unquote(value) })
  }
  return rules
}

/** The entries of the top-level `rule_files:`, as a flow list (`[a, b]`) or a block list. */
const ruleFiles = (text: string): Array<string> => {
  const lines = text.split("\n")
  const at = lines.findIndex((line) => /^rule_files:/.test(line))
  if (at === -1) return []
  const flow = /^rule_files:\s*\[(.*)\]/.exec(lines[at]!)
  if (flow !== null) return flow[1]!.split(",").map(unquote).filter((file) => file !== "")
  const files: Array<string> = []
  for (const line of lines.slice(at + 1)) {
    if (line.trim() === "" || line.trim().startsWith("#")) continue
    const item = /^\s+-\s*(.+?)\s*(?:#.*)?$/.exec(line)
    if (item === null) break
    files.push(unquote(item[1]!))
  }
  return files
}

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
  })

  it("reads the rules of a rules file and the rule files of a Prometheus configuration", () => {
    const rules = [
      "groups:",
      "  - name: g",
      "    rules:",
      "      - alert: One",
      "        expr: max(a) > 1",
      "      - alert: \"Two\"",
      "        expr: |",
      "          sum(b)",
      "            > 2",
      "        for: 5m"
    ].join("\n")
    expect(ruleExprs(rules)).toEqual([{ rule: "One", expr: "max(a) > 1" }, { rule: "Two", expr: "sum(b) > 2" }])
    expect(ruleFiles("global: {}\nrule_files:\n  - alerts.yml  # the alerts\n  - \"more.yml\"\nscrape_configs: []\n")).toEqual([
      "alerts.yml",
      "more.yml"
    ])
    expect(ruleFiles("rule_files: [alerts.yml, 'b.yml']\n")).toEqual(["alerts.yml", "b.yml"])
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
