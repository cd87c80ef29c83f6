/** A process's ops server as tests meet it: its port, from the start-up line, and its /metrics. */
import { Effect } from "effect"
import type { CliProcess } from "../../bench/lib/processes.js"

const OPS_LISTENING = /ops server \(.*\) at http:\/\/[^:"]+:(\d+)/

/** The port a process's ops server listens on, from its start-up line. */
export const opsPortOf = (process: CliProcess) =>
  Effect.map(process.waitForLine(OPS_LISTENING, 30_000), (line) => Number(OPS_LISTENING.exec(line)![1]))

/**
 * One series' value on the ops server's /metrics, the series written as the scrape writes it (the
 * name and, if any, its labels: `http_request_duration_seconds_count{method="GET",…}`); 0 when it is
 * not there yet.
 */
export const opsMetric = (port: number, series: string) =>
  Effect.promise(async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `))
    return line === undefined ? 0 : Number(line.slice(series.length + 1))
  })
