/** Writes a benchmark's results: rows of plain numbers as JSON, and the same as a Markdown table. */
import { Effect, Logger, LogLevel } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"

export const resultsDirectory = fileURLToPath(new URL("../results/", import.meta.url))

export type Cell = string | number

export const markdownTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Cell>>) => {
  const line = (cells: ReadonlyArray<Cell>) => `| ${cells.map(String).join(" | ")} |`
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n")
}

/** Where and when a run happened, so a result file says what it was measured on. */
export const machine = () => ({
  measuredAt: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round(os.totalmem() / 2 ** 30)
})

/** Writes `<name>.json` ({ machine, settings, rows }) and `<name>.md` into `directory`. */
export const writeResults = (
  name: string,
  content: { readonly settings: Record<string, unknown>; readonly rows: ReadonlyArray<unknown>; readonly markdown: string },
  directory = resultsDirectory
) => {
  mkdirSync(directory, { recursive: true })
  const json = path.join(directory, `${name}.json`)
  const md = path.join(directory, `${name}.md`)
  writeFileSync(json, JSON.stringify({ machine: machine(), settings: content.settings, rows: content.rows }, null, 2) + "\n")
  writeFileSync(md, content.markdown + "\n")
  return { json, md }
}

/**
 * The entry point of a benchmark script: runs it with warnings and errors only in the log, writes
 * `<name>.json` and `<name>.md`, and prints the table.
 */
export const runBenchmark = <E>(
  name: string,
  run: Effect.Effect<{ readonly settings: Record<string, unknown>; readonly rows: ReadonlyArray<unknown>; readonly markdown: string }, E>
) =>
  Effect.runPromise(
    run.pipe(
      Effect.map((result) => {
        const files = writeResults(name, result)
        console.log(`\n${result.markdown}\n\nwritten: ${files.json}, ${files.md}`)
      }),
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  ).catch((error) => {
    console.error(error)
    process.exit(1)
  })
