/**
 * Where a V8 CPU profile (`node --cpu-prof`) spent its time: self time by function and by where the
 * code lives (our sources, a package, node's internals), as Markdown tables.
 */
import { readFileSync } from "node:fs"
import { markdownTable } from "./report.js"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly hitCount?: number
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
}

/** Where a frame's code lives: `src/…`, a package's name, `node:…`, or what V8 calls it. */
export const placeOf = (url: string, functionName: string) => {
  if (url === "") return `(${functionName || "anonymous"})`
  const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (inPackage) return inPackage[1]!
  if (url.startsWith("node:")) return "node"
  const ours = /\/(src|dist)\/(.+)$/.exec(url)
  return ours ? `src/${ours[2]!.replace(/\.js$/, ".ts")}` : url
}

/** A frame's file, short: `src/…` as it is, a package's file without its build folders. */
const fileOf = (url: string, place: string) => {
  const inPackage = /node_modules\/(?:@[^/]+\/)?[^/]+\/(?:dist\/(?:esm\/|cjs\/)?|lib\/)?(.+)$/.exec(url)
  return inPackage ? `${place}/${inPackage[1]!}` : place
}

export interface SelfTime {
  readonly name: string
  readonly millis: number
  readonly share: number
}

const top = (totals: Map<string, number>, totalSamples: number, millisPerSample: number, limit: number): Array<SelfTime> =>
  [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, samples]) => ({
      name,
      millis: Math.round(samples * millisPerSample),
      share: Number(((samples / totalSamples) * 100).toFixed(1))
    }))

/** Self time by function and by place, the largest first. */
export const summarize = (file: string, limit = 25) => {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const functions = new Map<string, number>()
  const places = new Map<string, number>()
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame
    const place = placeOf(url, functionName)
    const fn = url === "" ? place : `${functionName || "(anonymous)"} ${fileOf(url, place)}:${lineNumber + 1}`
    functions.set(fn, (functions.get(fn) ?? 0) + 1)
    places.set(place, (places.get(place) ?? 0) + 1)
  }
  const total = profile.samples.length
  const millisPerSample = (profile.endTime - profile.startTime) / 1000 / Math.max(1, total)
  return {
    totalMillis: Math.round((profile.endTime - profile.startTime) / 1000),
    functions: top(functions, total, millisPerSample, limit),
    places: top(places, total, millisPerSample, limit)
  }
}

export const profileMarkdown = (title: string, summary: ReturnType<typeof summarize>) =>
  [
    `### ${title}: self time over ${summary.totalMillis} ms of profile`,
    "",
    markdownTable(["where the code lives", "ms", "%"], summary.places.map((row) => [row.name, row.millis, row.share])),
    "",
    markdownTable(["function", "ms", "%"], summary.functions.map((row) => [row.name.replace(/\|/g, "\\|"), row.millis, row.share]))
  ].join("\n")
