/** For readiness tests: the relay, the projector and the worker as processes, and their ops servers' /ready. */
import { Duration, Effect } from "effect"
import { startBuiltCli } from "../../bench/lib/processes.js"
import type { MessagingEnvironment } from "./messaging.js"
import { eventually } from "./notifications.js"
import { opsPortOf } from "./ops.js"

export interface ReadyAnswer {
  readonly status: number
  readonly body: any
}

/** GET /ready; an answer that does not come within 10 s, or no answer at all, is status 0. */
export const readyOf = (port: number): Effect.Effect<ReadyAnswer> =>
  Effect.tryPromise(async () => {
    const response = await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(10_000) })
    return { status: response.status, body: await response.json() }
  }).pipe(Effect.catchAll((error) => Effect.succeed({ status: 0, body: String(error) })))

/** Waits until /ready answers `status` (and `also` holds of the answer). */
export const readyAnswers = (port: number, status: number, also: (answer: ReadyAnswer) => boolean = () => true, timeout = Duration.seconds(60)) =>
  eventually(`/ready answers ${status}`, readyOf(port), (answer) => answer.status === status && also(answer), timeout)

const common = (env: MessagingEnvironment) => ({ DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix, OUTBOX_POLL_INTERVAL: "200 millis" })

/** `relay` on the environment, its ops server on a free port; gives the process and the port. */
export const relayWithOps = (env: MessagingEnvironment, extra: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const process = yield* startBuiltCli(["relay"], { ...common(env), RELAY_PORT: "0", ...extra })
    return { process, port: yield* opsPortOf(process) }
  })

/** `project` on the environment, its ops server on a free port; gives the process and the port. */
export const projectorWithOps = (env: MessagingEnvironment, extra: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const process = yield* startBuiltCli(["project"], { ...common(env), PROJECTOR_PORT: "0", ...extra })
    return { process, port: yield* opsPortOf(process) }
  })
