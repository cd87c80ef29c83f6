/** `--json` leaves stdout to the JSON: log lines and hints of the command go to stderr meanwhile. */
import { afterEach, describe, expect, it, vi } from "vitest"
import { Console, Effect, Logger } from "effect"
import { jsonOutput, printJson } from "../../src/cli/output.js"

/** What a command does: logs (as the CLI's logger writes them, through the console), hints, and its rows. */
const command = Effect.gen(function*() {
  yield* Effect.logInfo("connected")
  yield* Console.log("3 rows")
  yield* printJson([{ id: 1 }])
}).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, Logger.logfmtLogger.pipe(Logger.withConsoleLog))))

const run = (json: boolean) => {
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation(() => true)
  const log = vi.spyOn(console, "log").mockImplementation(() => undefined)
  const error = vi.spyOn(console, "error").mockImplementation(() => undefined)
  Effect.runSync(command.pipe(jsonOutput(json)))
  return {
    stdout: [...stdout.mock.calls.map(([chunk]) => String(chunk)), ...log.mock.calls.map((args) => `${args.join(" ")}\n`)],
    stderr: error.mock.calls.map((args) => args.join(" "))
  }
}

describe("--json output", () => {
  afterEach(() => void vi.restoreAllMocks())

  it("stdout holds the JSON alone; the log line and the hint go to stderr", () => {
    const { stderr, stdout } = run(true)
    expect(stdout).toEqual([`${JSON.stringify([{ id: 1 }], null, 2)}\n`])
    expect(stderr).toEqual([expect.stringContaining('message=connected'), "3 rows"])
  })

  it("without --json the console is left as it is", () => {
    const { stderr, stdout } = run(false)
    expect(stdout).toHaveLength(3)
    expect(stderr).toEqual([])
  })
})
