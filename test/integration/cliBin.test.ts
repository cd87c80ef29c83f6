/**
 * The package's bin, `actors`: `npx actors …` runs the compiled CLI the way npm links it, by its
 * shebang (which keeps source maps on), without naming node; and what it says of a bad setting
 * before it does anything. Runs dist/: `make build` first.
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

  it("a bad setting at start-up is one line on stderr naming the variable and the reason, and the command fails", async () => {
    const failed = await run(process.execPath, ["--enable-source-maps", "dist/cli/main.js", "migrate"], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: "mysql://app:s3cret@db/actors" }
    }).then(() => ({ code: 0, stdout: "", stderr: "" }), (error: { code: number; stdout: string; stderr: string }) => error)
    expect(failed.code).toBe(1)
    expect(failed.stdout).toBe("")
    expect(failed.stderr).toBe('DATABASE_URL: must be a postgres:// or postgresql:// URL, got "mysql://app:***@db/actors"\n')
  })
})
