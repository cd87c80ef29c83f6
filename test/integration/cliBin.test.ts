/**
 * The package's bin, `actors`: `npx actors …` runs the compiled CLI the way npm links it, by its
 * shebang (which keeps source maps on), without naming node. Runs dist/: `make build` first.
 */
import { execFile } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("../..", import.meta.url))
const run = promisify(execFile)

/** The top-level commands `--help` lists, a `  - <command> …` line each. */
const commands = ["serve", "relay", "worker", "project", "projections", "push-sink", "payment-sink", "dlq", "quarantine", "sagas", "migrate", "events", "token", "status"]

const listsTheCommands = (help: string) => {
  const listed = help.split("\n").flatMap((line) => /^ {2}- ([a-z-]+)/.exec(line)?.[1] ?? [])
  expect(new Set(listed)).toEqual(new Set(commands))
}

describe("the actors bin", () => {
  it("npm exec actors --help lists the commands; the file the bin names runs by itself", async () => {
    const manifest = JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { bin: { actors: string } }
    const bin = join(root, manifest.bin.actors)
    const firstLine = (await readFile(bin, "utf8")).split("\n")[0]
    expect(firstLine, `${bin} has no shebang: is dist/ older than the sources? (make build)`)
      .toBe("#!/usr/bin/env -S node --enable-source-maps")

    // A cache of its own: npm links the bin afresh, making the file executable as an install does;
    // offline: the package is this directory, nothing is fetched.
    const cache = await mkdtemp(join(tmpdir(), "npm-cache-"))
    try {
      const viaNpm = await run("npm", ["exec", "--offline", "--no", `--cache=${cache}`, "--", "actors", "--help"], { cwd: root })
      listsTheCommands(viaNpm.stdout)
    } finally {
      await rm(cache, { recursive: true, force: true })
    }

    const direct = await run(bin, ["--help"], { cwd: tmpdir() })
    listsTheCommands(direct.stdout)
    expect(direct.stdout).toContain("actors")
  })
})
