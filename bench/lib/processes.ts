/**
 * The application's CLI as real child processes, for tests that kill one. Each runs as one node
 * process (no wrapper), so a signal reaches the process that holds the connections.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../..", import.meta.url))

export interface CliProcess {
  readonly pid: number
  /** Everything it printed so far, a line each. */
  readonly lines: ReadonlyArray<string>
  /** The first line (from `fromLine` on) matching `pattern`; fails after `timeoutMs`, showing the output. */
  readonly waitForLine: (pattern: RegExp, timeoutMs: number, fromLine?: number) => Effect.Effect<string, Error>
  readonly kill: (signal: NodeJS.Signals) => Effect.Effect<void>
  /** How it ended. */
  readonly exited: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
}

/** Starts `node src/cli/main.ts <args>` with extra environment; it is killed when the scope closes. */
export const startCli = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
        cwd: root,
        env: { ...process.env, LOG_FORMAT: "logfmt", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const lines: Array<string> = []
      let partial = ""
      const collect = (chunk: Buffer) => {
        const text = partial + chunk.toString()
        const parts = text.split("\n")
        partial = parts.pop() ?? ""
        lines.push(...parts)
      }
      child.stdout!.on("data", collect)
      child.stderr!.on("data", collect)
      const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("exit", (code, signal) => {
          // A last line without its newline is still something it said.
          if (partial.length > 0) lines.push(partial)
          partial = ""
          resolve({ code, signal })
        })
      )
      const handle: CliProcess = {
        pid: child.pid!,
        lines,
        waitForLine: (pattern, timeoutMs, fromLine = 0) =>
          Effect.tryPromise({
            try: async () => {
              const deadline = Date.now() + timeoutMs
              for (;;) {
                const found = lines.slice(fromLine).find((line) => pattern.test(line))
                if (found !== undefined) return found
                if (child.exitCode !== null || child.signalCode !== null) throw new Error("exited")
                if (Date.now() > deadline) throw new Error("timed out")
                await new Promise((resolve) => setTimeout(resolve, 25))
              }
            },
            catch: (why) =>
              new Error(
                `process ${child.pid} ${String(why).includes("exited") ? "exited" : `did not print a line matching ${pattern} within ${timeoutMs} ms`}` +
                  `; it printed:\n${lines.join("\n")}`
              )
          }),
        kill: (signal) => Effect.sync(() => void child.kill(signal)),
        exited: Effect.promise(() => exit)
      }
      return { child, handle }
    }),
    ({ child, handle }) =>
      child.exitCode === null && child.signalCode === null
        ? Effect.zipRight(handle.kill("SIGKILL"), handle.exited)
        : Effect.void
  ).pipe(Effect.map(({ handle }) => handle))
