/** Operating the pipeline (admin): its status, the dead letters and their requeue, the quarantine and its retries. */
import * as UrlParams from "@effect/platform/UrlParams"
import { Clock, Effect, Option } from "effect"
import { listDeadLetters, requeueDeadLetters } from "../../notifications/deadLetters.js"
import { readStatus } from "../../observability/pipelineStatus.js"
import { plural } from "../format.js"
import { html } from "../html.js"
import type { Notice, Viewer } from "../layout.js"
import { retryParked } from "../../quarantine/retry.js"
import { deadLettersPage, pipelinePage, quarantinePage } from "../pages/admin.js"
import { paths } from "../paths.js"
import type { ConsoleRouter, ConsoleShell } from "../shell.js"

export const adminRoutes = (router: ConsoleRouter, shell: ConsoleShell) =>
  Effect.gen(function*() {
    const {
      config, processStore, quarantine, services, names, signedIn, signedInPost, may, respond,
      intParam, orLeft
    } = shell

    const adminOnly = (viewer: Viewer) => may(viewer, "operate", "operate the pipeline (its status, dead letters and quarantine)")

    yield* router.get(paths.pipeline, signedIn((viewer) =>
      Effect.gen(function*() {
        const denied = adminOnly(viewer)
        if (Option.isSome(denied)) return yield* denied.value
        const now = new Date(yield* Clock.currentTimeMillis)
        const [status, stuck, running] = yield* Effect.all([
          Effect.provide(readStatus, services),
          orLeft(processStore.list("fulfilment", { only: "stuck", now, limit: 50 })),
          orLeft(processStore.list("fulfilment", { only: "open", now, limit: 50 }))
        ], { concurrency: "unbounded" })
        return yield* respond(pipelinePage(viewer, { status, stuck, running }))
      })
    ))

    const showDeadLetters = (viewer: Viewer, notice: Notice | undefined) =>
      Effect.flatMap(orLeft(listDeadLetters(config.amqp.url, names, 100)), (letters) => respond(deadLettersPage(viewer, letters, notice)))

    yield* router.get(paths.deadLetters, signedIn((viewer) => {
      const denied = adminOnly(viewer)
      return Option.isSome(denied) ? denied.value : showDeadLetters(viewer, undefined)
    }))

    yield* router.post(paths.requeue, signedInPost((viewer, form) =>
      Effect.gen(function*() {
        const denied = adminOnly(viewer)
        if (Option.isSome(denied)) return yield* denied.value
        const all = Option.getOrUndefined(UrlParams.getFirst(form, "all")) === "true"
        const eventId = Option.getOrUndefined(UrlParams.getFirst(form, "eventId"))
        if (!all && eventId === undefined) return yield* showDeadLetters(viewer, { tone: "error", text: "Choose a task to requeue." })
        const requeued = yield* orLeft(Effect.provide(requeueDeadLetters(config.amqp.url, names, all ? undefined : [eventId!]), services), "30 seconds")
        yield* Effect.logInfo("console: dead letters re-queued").pipe(
          Effect.annotateLogs({ by: viewer.principal.subject, requeued: requeued.ok ? requeued.value.join(",") : requeued.error })
        )
        const notice: Notice = !requeued.ok
          ? { tone: "error", text: `Nothing was re-queued: ${requeued.error}` }
          : requeued.value.length === 0
          ? { tone: "info", text: "Nothing was re-queued: the task is no longer in the dead-letter queue." }
          : { tone: "success", text: html`Re-queued ${plural(requeued.value.length, "task")}: ${requeued.value.map((id) => html`<code class="id">${id}</code> `)}` }
        return yield* showDeadLetters(viewer, notice)
      })
    ))

    const showQuarantine = (viewer: Viewer, notice: Notice | undefined) =>
      Effect.flatMap(orLeft(quarantine.list()), (parked) => respond(quarantinePage(viewer, parked, notice)))

    yield* router.get(paths.quarantine, signedIn((viewer) => {
      const denied = adminOnly(viewer)
      return Option.isSome(denied) ? denied.value : showQuarantine(viewer, undefined)
    }))

    yield* router.post(paths.retry, signedInPost((viewer, form) =>
      Effect.gen(function*() {
        const denied = adminOnly(viewer)
        if (Option.isSome(denied)) return yield* denied.value
        const entryId = intParam(Option.getOrUndefined(UrlParams.getFirst(form, "id")))
        const waiting = yield* quarantine.list()
        const entry = waiting.find((candidate) => candidate.id === entryId)
        if (entry === undefined) {
          return yield* showQuarantine(viewer, { tone: "info", text: `Entry ${entryId ?? "?"} is not waiting (retried already, or never parked): nothing was done.` })
        }
        const outcome = yield* orLeft(Effect.provide(retryParked(entry), services), "30 seconds")
        yield* Effect.logInfo("console: quarantine entry retried").pipe(
          Effect.annotateLogs({ by: viewer.principal.subject, entry: entry.id, outcome: outcome.ok ? "put back" : outcome.error })
        )
        return yield* showQuarantine(viewer, outcome.ok
          ? { tone: "success", text: `Entry ${entry.id} (${entry.source}) was put back in line.` }
          : { tone: "error", text: `Entry ${entry.id} could not be put back: ${outcome.error}` })
      })
    ))
  })
