/**
 * Writes a benchmark's results: rows of plain numbers as JSON, and the same as a Markdown table; a
 * line in `results/history.jsonl` for every run; and README.md's table for it.
 */
import { Effect, Logger, LogLevel } from "effect"
import { execFileSync } from "node:child_process"
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { describeSync, syncReadme } from "./readme.js"

export const resultsDirectory = fileURLToPath(new URL("../results/", import.meta.url))

/** Every run written to `resultsDirectory`, one JSON line each, oldest first. */
export const historyFile = path.join(resultsDirectory, "history.jsonl")

const checkout = fileURLToPath(new URL("../../", import.meta.url))

const git = (...args: ReadonlyArray<string>) =>
  execFileSync("git", args, { cwd: checkout, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })

/**
 * The commit the checkout is at, and whether it has changes other than in `bench/results/`
 * (untracked files included); both null outside a git checkout.
 */
export const gitState = (): { readonly commit: string | null; readonly dirty: boolean | null } => {
  try {
    const commit = git("rev-parse", "HEAD").trim()
    const changes = git("status", "--porcelain", "--", ".", ":(exclude)bench/results")
    return { commit, dirty: changes.trim() !== "" }
  } catch {
    return { commit: null, dirty: null }
  }
}

export type Cell = string | number

export const markdownTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Cell>>) => {
  const line = (cells: ReadonlyArray<Cell>) => `| ${cells.map(String).join(" | ")} |`
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n")
}

/** What a benchmark produces: its settings, rows of plain numbers, and the same as Markdown. */
export interface BenchmarkResult {
  readonly settings: Record<string, unknown>
  readonly rows: ReadonlyArray<unknown>
  readonly markdown: string
}

/** Where and when a run happened, so a result file says what it was measured on. */
export const machine = () => ({
  measuredAt: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round(os.totalmem() / 2 ** 30)
})

/**
 * Writes `<name>.json` ({ machine, settings, rows }) and `<name>.md` into `directory`; into the
 * default directory (not, say, a test's temporary one) it also appends
 * `{ benchmark, commit, dirty, measuredAt, machine, settings, rows }` to `history.jsonl`.
 */
export const writeResults = (
  name: string,
  content: BenchmarkResult,
  directory = resultsDirectory
) => {
  mkdirSync(directory, { recursive: true })
  const json = path.join(directory, `${name}.json`)
  const md = path.join(directory, `${name}.md`)
  const measured = machine()
  writeFileSync(json, JSON.stringify({ machine: measured, settings: content.settings, rows: content.rows }, null, 2) + "\n")
  writeFileSync(md, content.markdown + "\n")
  if (path.resolve(directory) !== path.resolve(resultsDirectory)) return { json, md, history: null }
  const entry = {
    benchmark: name,
    ...gitState(),
    measuredAt: measured.measuredAt,
    machine: measured,
    settings: content.settings,
    rows: content.rows
  }
  appendFileSync(historyFile, JSON.stringify(entry) + "\n")
  return { json, md, history: historyFile }
}

/** Writes a benchmark's results, prints its table, and regenerates its section of README.md. */
export const writeAndPrint = (name: string, result: BenchmarkResult) => {
  const files = writeResults(name, result)
  console.log(`\n${result.markdown}\n\nwritten: ${files.json}, ${files.md}; appended to ${files.history}`)
  try {
    const lines = describeSync(syncReadme({ only: [name] }), false)
    for (const line of lines) console.log(line)
  } catch (error) {
    console.error(`README.md not regenerated: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/** Runs a benchmark script's main effect with warnings and errors only in the log; exits 1 on failure. */
export const runMain = <A, E>(main: Effect.Effect<A, E>) =>
  Effect.runPromise(main.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).catch((error) => {
    console.error(error)
    process.exit(1)
  })

/**
 * The entry point of a benchmark script: runs it, writes `<name>.json` and `<name>.md`, appends to
 * the history, regenerates README's table and prints it.
 */
export const runBenchmark = <E>(name: string, run: Effect.Effect<BenchmarkResult, E>) =>
  runMain(Effect.map(run, (result) => writeAndPrint(name, result)))
