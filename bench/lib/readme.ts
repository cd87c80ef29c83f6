/**
 * README.md's performance tables are generated: each benchmark's block sits between
 * `<!-- bench:<name> -->` and `<!-- /bench:<name> -->` and is `bench/results/<name>.md` as the
 * benchmark wrote it, with its relative links pointing into `bench/results/`.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

export const readmeFile = fileURLToPath(new URL("../../README.md", import.meta.url))
const resultsFiles = fileURLToPath(new URL("../results/", import.meta.url))

export const startMarker = (name: string) => `<!-- bench:${name} -->`
export const endMarker = (name: string) => `<!-- /bench:${name} -->`

/**
 * Points the relative links and images of `markdown` (`[text](file)`, `![alt](file)`) at `base`, so
 * that a result file's `](replay.svg)` reads `](bench/results/replay.svg)` in README.md. Absolute
 * URLs, absolute paths and anchors are left alone, and so is anything in a fenced code block.
 */
export const rebaseLinks = (markdown: string, base: string) => {
  if (base === "" || base === ".") return markdown
  const prefix = base.replace(/\/+$/, "") + "/"
  let fenced = false
  return markdown
    .split("\n")
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        fenced = !fenced
        return line
      }
      if (fenced) return line
      return line.replace(/(\]\(\s*)([^)\s]+)/g, (whole, opening: string, target: string) =>
        /^([a-z][a-z0-9+.-]*:|\/|#)/i.test(target) ? whole : opening + prefix + target.replace(/^\.\//, "")
      )
    })
    .join("\n")
}

/** The block between a pair of markers: the markdown with a blank line either side. */
const block = (markdown: string) => `\n\n${markdown.trim()}\n\n`

interface Span {
  /** Just after the start marker. */
  readonly from: number
  /** At the end marker. */
  readonly to: number
}

const span = (text: string, name: string): Span | undefined => {
  const start = startMarker(name)
  const end = endMarker(name)
  const at = text.indexOf(start)
  if (at === -1) {
    if (text.includes(end)) throw new Error(`${end} without ${start}`)
    return undefined
  }
  if (text.indexOf(start, at + start.length) !== -1) throw new Error(`${start} appears more than once`)
  const to = text.indexOf(end, at + start.length)
  if (to === -1) throw new Error(`${start} without ${end} after it`)
  if (text.indexOf(end, to + end.length) !== -1) throw new Error(`${end} appears more than once`)
  return { from: at + start.length, to }
}

/** What is between `<name>`'s markers in `text`, if it has them. */
export const sectionContent = (text: string, name: string): string | undefined => {
  const found = span(text, name)
  return found === undefined ? undefined : text.slice(found.from, found.to)
}

/** The names of the `<!-- bench:<name> -->` markers in `text`, in order. */
export const markedSections = (text: string): ReadonlyArray<string> =>
  [...text.matchAll(/<!-- bench:([^\s>]+) -->/g)].map((match) => match[1]!)

export interface Replacement {
  /** The text with every section that has markers replaced. */
  readonly text: string
  /** The sections whose content changed. */
  readonly changed: ReadonlyArray<string>
  /** The sections with no markers in the text: left out. */
  readonly missing: ReadonlyArray<string>
}

/**
 * Replaces what is between `<!-- bench:<name> -->` and `<!-- /bench:<name> -->` in `text` with the
 * markdown given for `<name>` (a result file's `.md` as the benchmark wrote it; its relative links
 * are pointed at `linkBase`). Names with no markers are skipped; a marker without its pair, or one
 * that appears twice, throws. Replacing again with the same markdown changes nothing.
 */
export const replaceSections = (
  text: string,
  sections: ReadonlyMap<string, string>,
  options: { readonly linkBase?: string } = {}
): Replacement => {
  let result = text
  const changed: Array<string> = []
  const missing: Array<string> = []
  for (const [name, markdown] of sections) {
    const found = span(result, name)
    if (found === undefined) {
      missing.push(name)
      continue
    }
    const content = block(rebaseLinks(markdown, options.linkBase ?? ""))
    if (result.slice(found.from, found.to) === content) continue
    result = result.slice(0, found.from) + content + result.slice(found.to)
    changed.push(name)
  }
  return { text: result, changed, missing }
}

/** `<name>` → the content of `<name>.md`, for every `.md` file in `directory` (sorted by name). */
export const readResultSections = (directory: string): ReadonlyMap<string, string> =>
  new Map(
    (existsSync(directory) ? readdirSync(directory) : [])
      .filter((file) => file.endsWith(".md") && file !== "README.md")
      .sort()
      .map((file) => [file.slice(0, -".md".length), readFileSync(path.join(directory, file), "utf8")] as const)
  )

export interface ReadmeSync {
  /** The sections that were (or, when checking, would be) rewritten. */
  readonly stale: ReadonlyArray<string>
  /** Result files with no markers in the README. */
  readonly notInReadme: ReadonlyArray<string>
  /** Markers in the README with something between them but no result file (an empty pair is left alone). */
  readonly noResultFile: ReadonlyArray<string>
  /** Whether the README file was written. */
  readonly written: boolean
}

/**
 * Brings README.md's benchmark sections up to date with the result files — every section, or only
 * those named in `only` — and writes it if anything changed; with `check`, only says what is stale.
 * Used by `bench/readme.ts` and by every benchmark run (`runBenchmark`).
 */
export const syncReadme = (
  options: {
    readonly check?: boolean
    readonly only?: ReadonlyArray<string>
    readonly readme?: string
    readonly results?: string
  } = {}
): ReadmeSync => {
  const readme = options.readme ?? readmeFile
  const results = options.results ?? resultsFiles
  const text = readFileSync(readme, "utf8")
  const all = readResultSections(results)
  const sections = options.only === undefined
    ? all
    : new Map([...all].filter(([name]) => options.only!.includes(name)))
  const linkBase = path.relative(path.dirname(readme), results).split(path.sep).join("/")
  const replacement = replaceSections(text, sections, { linkBase })
  // An empty pair of markers waits for its benchmark's first run; one with a table in it is stale.
  const noResultFile = markedSections(text).filter((name) =>
    !all.has(name) && (options.only === undefined || options.only.includes(name)) &&
    sectionContent(text, name)?.trim() !== ""
  )
  const write = options.check !== true && replacement.text !== text
  if (write) writeFileSync(readme, replacement.text)
  return { stale: replacement.changed, notInReadme: replacement.missing, noResultFile, written: write }
}

/** What `syncReadme` found, one line each; `checked` words it as problems rather than as news. */
export const describeSync = (sync: ReadmeSync, checked: boolean): ReadonlyArray<string> => [
  ...sync.stale.map((name) =>
    checked
      ? `README.md: bench:${name} is stale (differs from bench/results/${name}.md); run \`make bench-readme\``
      : `README.md: bench:${name} regenerated from bench/results/${name}.md`
  ),
  ...sync.notInReadme.map((name) =>
    `bench/results/${name}.md: not in README (add ${startMarker(name)} ${endMarker(name)} to its Performance section)`
  ),
  ...sync.noResultFile.map((name) => `README.md: bench:${name} has no bench/results/${name}.md`)
]

/** Whether a check found nothing to do. */
export const inSync = (sync: ReadmeSync) =>
  sync.stale.length === 0 && sync.notInReadme.length === 0 && sync.noResultFile.length === 0
