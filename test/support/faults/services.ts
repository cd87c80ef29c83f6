/** `scripts/services.sh <action> <service>`: the harness `make services` uses, for tests that take a service away. */
import { Effect } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const root = fileURLToPath(new URL("../../..", import.meta.url))

export const service = (action: "stop" | "start" | "restart", name: "pg" | "rabbitmq" | "kafka") =>
  Effect.promise(() => promisify(execFile)("bash", ["scripts/services.sh", action, name], { cwd: root }))
