/**
 * `--json` for the commands that list or show something: what they found as JSON, for scripts,
 * instead of a table for people. Only the JSON goes to stdout — log lines, hints and progress go to
 * stderr — so that `actors … --json | jq` always has something to parse.
 */
import { Options } from "@effect/cli"
import { type Console, Effect } from "effect"

/** The one `--json` option every such command takes. */
export const json = Options.boolean("json").pipe(
  Options.withDescription("Print JSON instead of a table: only the JSON on stdout, anything else on stderr")
)

/** Prints `value` as JSON on stdout, past the console `jsonOutput` moved to stderr. */
export const printJson = (value: unknown) =>
  Effect.sync(() => void process.stdout.write(`${JSON.stringify(value, null, 2)}\n`))

/** A console that writes to stderr what it would have written to stdout. */
const toStderr = (console: Console.Console): Console.Console => ({
  ...console,
  log: console.error,
  info: console.error,
  debug: console.error,
  unsafe: { ...console.unsafe, log: console.unsafe.error, info: console.unsafe.error, debug: console.unsafe.error }
})

/**
 * A command's work in JSON mode: everything it (or the layers it builds, or the logger) prints
 * through the console goes to stderr, so that stdout holds `printJson`'s output alone.
 */
export const jsonOutput = (json: boolean) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  json ? Effect.flatMap(Effect.console, (console) => Effect.withConsole(effect, toStderr(console))) : effect
