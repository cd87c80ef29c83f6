import { describe, expect, it } from "@effect/vitest"
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import os from "node:os"
import path from "node:path"
import { describeSync, markedSections, rebaseLinks, replaceSections, syncReadme } from "../../bench/lib/readme.js"

const readme = [
  "# Title",
  "",
  "## Performance",
  "",
  "<!-- bench:replay -->",
  "old replay table",
  "<!-- /bench:replay -->",
  "",
  "<!-- bench:commands -->",
  "<!-- /bench:commands -->",
  "",
  "### Against the aims",
  "",
  "Hand-written."
].join("\n")

const replayMd = "### Replay\n\n| a |\n| --- |\n| 1 |\n\n![chart](replay.svg)\n"
const commandsMd = "### Commands\n\n| b |\n| --- |\n| 2 |\n"

describe("generating README's performance tables", () => {
  it("replaces what is between a benchmark's markers, and nothing else", () => {
    const result = replaceSections(readme, new Map([["replay", replayMd], ["commands", commandsMd]]))
    expect(result.changed).toEqual(["replay", "commands"])
    expect(result.missing).toEqual([])
    expect(result.text).toBe([
      "# Title",
      "",
      "## Performance",
      "",
      "<!-- bench:replay -->",
      "",
      "### Replay",
      "",
      "| a |",
      "| --- |",
      "| 1 |",
      "",
      "![chart](replay.svg)",
      "",
      "<!-- /bench:replay -->",
      "",
      "<!-- bench:commands -->",
      "",
      "### Commands",
      "",
      "| b |",
      "| --- |",
      "| 2 |",
      "",
      "<!-- /bench:commands -->",
      "",
      "### Against the aims",
      "",
      "Hand-written."
    ].join("\n"))
  })

  it("points the result file's relative links at the results directory", () => {
    const result = replaceSections(readme, new Map([["replay", replayMd]]), { linkBase: "bench/results" })
    expect(result.text).toContain("![chart](bench/results/replay.svg)")
    expect(rebaseLinks("[a](./b.md) [c](https://x.org/d) [e](#f) ![g](/h.svg)", "bench/results/"))
      .toBe("[a](bench/results/b.md) [c](https://x.org/d) [e](#f) ![g](/h.svg)")
    expect(rebaseLinks("```\n[a](b.md)\n```\n[a](b.md)", "r")).toBe("```\n[a](b.md)\n```\n[a](r/b.md)")
  })

  it("skips a benchmark with no markers, and says so", () => {
    const result = replaceSections(readme, new Map([["worker", "### Worker\n"], ["commands", commandsMd]]))
    expect(result.missing).toEqual(["worker"])
    expect(result.changed).toEqual(["commands"])
    expect(result.text).not.toContain("Worker")
    expect(result.text).toContain("old replay table")
  })

  it("is idempotent: a second replacement with the same files changes nothing", () => {
    const sections = new Map([["replay", replayMd], ["commands", commandsMd]])
    const once = replaceSections(readme, sections, { linkBase: "bench/results" })
    const twice = replaceSections(once.text, sections, { linkBase: "bench/results" })
    expect(twice.changed).toEqual([])
    expect(twice.text).toBe(once.text)
  })

  it("refuses a marker without its pair, or twice", () => {
    expect(() => replaceSections("<!-- bench:replay -->\n", new Map([["replay", replayMd]]))).toThrow(
      "<!-- bench:replay --> without <!-- /bench:replay --> after it"
    )
    expect(() => replaceSections("<!-- /bench:replay -->\n", new Map([["replay", replayMd]]))).toThrow(
      "<!-- /bench:replay --> without <!-- bench:replay -->"
    )
    expect(() => replaceSections(readme + "\n" + readme, new Map([["replay", replayMd]]))).toThrow(
      "<!-- bench:replay --> appears more than once"
    )
  })

  it("lists the marked sections in order", () => {
    expect(markedSections(readme)).toEqual(["replay", "commands"])
  })

  it("checks and regenerates a README from a results directory: stale, not in README, no result file", () => {
    const root = mkdtempSync(path.join(os.tmpdir(), "bench-readme-"))
    try {
      const results = path.join(root, "bench", "results")
      mkdirSync(results, { recursive: true })
      writeFileSync(path.join(results, "replay.md"), replayMd)
      writeFileSync(path.join(results, "commands.md"), commandsMd)
      writeFileSync(path.join(results, "worker.md"), "### Worker\n")
      const file = path.join(root, "README.md")
      const text = readme + "\n\n<!-- bench:http -->\n<!-- /bench:http -->\n\n<!-- bench:gone -->\nold\n<!-- /bench:gone -->\n"
      writeFileSync(file, text)

      const checked = syncReadme({ check: true, readme: file, results })
      expect(checked).toEqual({
        stale: ["commands", "replay"],
        notInReadme: ["worker"],
        noResultFile: ["gone"],
        written: false
      })
      expect(describeSync(checked, true)).toContain(
        "bench/results/worker.md: not in README (add <!-- bench:worker --> <!-- /bench:worker --> to its Performance section)"
      )
      expect(readFileSync(file, "utf8")).toBe(text)

      expect(syncReadme({ readme: file, results, only: ["replay"] }).stale).toEqual(["replay"])
      expect(readFileSync(file, "utf8")).toContain("![chart](bench/results/replay.svg)")
      expect(syncReadme({ check: true, readme: file, results }).stale).toEqual(["commands"])
      expect(syncReadme({ readme: file, results }).written).toBe(true)
      expect(syncReadme({ check: true, readme: file, results }).stale).toEqual([])
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })

  it("README.md's performance tables are bench/results/*.md (`make bench-readme` regenerates them)", () => {
    const sync = syncReadme({ check: true })
    expect(sync.written).toBe(false)
    expect(describeSync(sync, true)).toEqual([])
  })
})
