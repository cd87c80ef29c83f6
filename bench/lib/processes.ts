/**
 * The application's CLI, and the benchmarks' own servers and load generator, as real child processes. Each
 * runs as one node process (no wrapper), so a signal reaches the process that holds the connections.
 */
import { Effect } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
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

/**
 * The ops servers and the cluster runner of the roles on any free port unless a caller names one: processes of tests and
 * benchmarks run side by side, and each logs the port it got.
 */
const anyFreeOpsPorts = { OPS_PORT: "0", RELAY_PORT: "0", PROJECTOR_PORT: "0", WORKER_PORT: "0", CLUSTER_RUNNER_PORT: "0" }

/** Starts `node src/cli/main.ts <args>` (through tsx) with extra environment; it is killed when the scope closes. */
export const startCli = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>) =>
  startNode(["--import", "tsx", "src/cli/main.ts", ...args], { ...anyFreeOpsPorts, ...env })

/** Starts the compiled CLI, as `make run` does (`make build` first), with node's own flags if given. */
export const startBuiltCli = (
  args: ReadonlyArray<string>,
  env: Readonly<Record<string, string>>,
  nodeFlags: ReadonlyArray<string> = []
) => startNode([...nodeFlags, "--enable-source-maps", "dist/cli/main.js", ...args], { ...anyFreeOpsPorts, ...env })

/** Starts a TypeScript script of the project (through tsx) with arguments. */
export const startScript = (script: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  startNode(["--import", "tsx", script, ...args], env)

/** CPU time a process has used so far, in seconds (Linux: /proc/<pid>/stat). */
export const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  // utime and stime, fields 14 and 15 of the whole line, in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** Resident memory of a process, in MiB (Linux: /proc/<pid>/status). */
export const residentMiB = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))
  return Math.round(Number(line?.split(/\s+/)[1] ?? "0") / 1024)
}

const startNode = (argv: ReadonlyArray<string>, env: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child: ChildProcess = spawn(process.execPath, argv, {
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
