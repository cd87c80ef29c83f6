/**
 * The process manager: runs a process's sagas (saga.ts) on the actor runtime.
 *
 * - The feed reads the event log in commit order from its checkpoint and hands each event the
 *   process listens to to its saga, as a command named after the event: an event seen twice (a
 *   crash before the checkpoint moved) is recorded once. One process at a time reads (an advisory
 *   lock elects it, as for the outbox relay).
 * - The wakers, in every process that runs the manager, claim the sagas with something due (a step
 *   to run, a retry's backoff over, a timer) in the index (ProcessStore), leased so that two wakers
 *   never work on one saga at once, and run the steps: each at least once, within its timeout, its
 *   commands named after the saga and the step, so that a step run again after a crash does nothing
 *   twice. A failed attempt is retried with backoff; the last one parks the step for an operator.
 * - Timers are rows in the index too: they survive restarts, and fire from whichever process wakes.
 *
 * Every change to a saga goes through its actor (one at a time) and is then written to the index.
 */
import { Cause, Clock, Data, Duration, Effect, Exit, Metric, Option, Queue, Ref, Schedule, Stream } from "effect"
import { PgClient } from "@effect/sql-pg"
import { type Role, whileLeading } from "../database/leadership.js"
import { purgeForever } from "../database/retention.js"
import { APPENDED_CHANNEL, type EventMetadata, EventStore, type RecordedEvent } from "../eventstore/EventStore.js"
import { durationHistogram } from "../observability/histograms.js"
import type { ActorSystem } from "../runtime/ActorSystem.js"
import { commandEventId, commandIdForKey } from "../runtime/commandIds.js"
import { ProcessStore } from "./ProcessStore.js"
import {
  dueSteps,
  dueTimers,
  type ObservedEvent,
  type ProcessDefinition,
  type SagaCommand,
  type SagaEvent,
  type SagaState,
  type StepState
} from "./saga.js"

/** A step's attempt failed; it is tried again after a backoff, until its last attempt parks it. */
export class StepError extends Data.TaggedError("StepError")<{ readonly message: string }> {}

export interface StepContext {
  readonly sagaId: string
  readonly step: string
  /**
   * For a command the step sends: named after the saga, the step and the command's kind (a step
   * sends each kind of command once), caused by the event that scheduled the step.
   */
  readonly metadataFor: (commandKind: string) => EventMetadata
  /** The moment the attempt began (ISO-8601). */
  readonly at: string
}

export type StepHandler<R = never> = (input: any, context: StepContext) => Effect.Effect<unknown, StepError, R>

/** A process ready to run: its definitions (every version still running), its sagas' actors, its step handlers. */
export interface Process<S, R = never> {
  readonly definitions: ReadonlyArray<ProcessDefinition<S>>
  readonly sagas: ActorSystem<SagaState<S>, SagaCommand, SagaEvent>
  readonly handlers: Readonly<Record<string, StepHandler<R>>>
}

export interface ProcessManagerSettings {
  /** How often a waker looks for due work when nothing woke it. */
  readonly pollInterval: Duration.Duration
  /** Events the feed reads at once; sagas a waker claims at once. */
  readonly batchSize: number
  /** Sagas worked on at once, by the feed and by each waker. */
  readonly concurrency: number
  /** How long a claimed saga is left to its waker (longer than any step's timeout). */
  readonly lease: Duration.Duration
  /** Whether this process also competes to run the feed. */
  readonly feed: boolean
  /** Finished sagas leave the index after this (their streams stay: `sagas show` reads those). */
  readonly retention: Duration.Duration
  /** Kept up to date with this process's part in the feed's election, for whoever reports it (the ops server's /ready). */
  readonly role?: Ref.Ref<Role> | undefined
  /** Fault injection for tests: the process kills itself before a step of this kind runs, or after it ran and before its result is recorded. */
  readonly crashAt?: { readonly kind: string; readonly moment: "before" | "after" } | undefined
}

/** Key of the advisory lock that elects the process manager's feed (relay 7_411_002, migrations 7_411_001). */
export const FEED_LOCK = 7_411_003

const stepAttempts = Metric.counter("saga_step_attempts_total", {
  description: "Attempts of saga steps, by process, step kind and outcome (succeeded, failed, parked)",
  incremental: true
})
const sagasStarted = Metric.counter("saga_started_total", { description: "Sagas started, by process", incremental: true })
const sagasFinished = Metric.counter("saga_finished_total", {
  description: "Sagas finished, by process and outcome",
  incremental: true
})
const sagasCompensating = Metric.counter("saga_compensations_total", {
  description: "Sagas that began compensating (undoing completed steps), by process",
  incremental: true
})
const sagaDuration = durationHistogram("saga_duration_seconds", "From a saga's start to its end, by process and outcome", {
  fromMillis: 10,
  count: 18
})
const sagasOpen = Metric.gauge("saga_running", { description: "Sagas not finished, by process" })
const sagasStuck = Metric.gauge("saga_stuck", {
  description: "Running sagas past the deadline of a step (nothing is running it), by process"
})
const sagasParked = Metric.gauge("saga_parked", {
  description: "Sagas with a step parked after its last attempt, waiting for an operator (`sagas retry`), by process"
})
const feedPosition = Metric.gauge("saga_feed_position", { description: "The event log position the process's feed has handled" })

const toObserved = (event: RecordedEvent): ObservedEvent => ({
  eventId: event.eventId,
  streamType: event.streamType,
  streamId: event.streamId,
  type: event.type,
  data: event.data
})

const iso = (millis: number) => new Date(millis).toISOString()

const latestOf = <S>(definitions: ReadonlyArray<ProcessDefinition<S>>) => definitions.reduce((a, b) => (b.version > a.version ? b : a))

const taggedBy = (name: string) => <T, I, O>(metric: Metric.Metric<T, I, O>) => Metric.tagged(metric, "process", name)

/** What a saga's commands are named under: the process and the saga. */
const sagaScope = (name: string, sagaId: string) => `process:${name}:${sagaId}`

/**
 * The one way a saga changes: a command to its actor, under its name, then its row in the index.
 * Also the operator's requests (`sagas retry`, `sagas compensate`), which the wakers then carry out.
 */
export const makeSagaCommands = <S>(name: string, sagas: ActorSystem<SagaState<S>, SagaCommand, SagaEvent>) =>
  Effect.gen(function*() {
    const store = yield* ProcessStore
    const tagged = taggedBy(name)

    /** Counts what a saga command recorded (`after`: the saga's state once it had). */
    const measure = (after: SagaState<S>, recorded: ReadonlyArray<SagaEvent>) =>
      Effect.gen(function*() {
        let compensationsScheduled = 0
        for (const event of recorded) {
          if (event._tag === "SagaStarted") yield* Metric.increment(tagged(sagasStarted))
          if (event._tag === "StepScheduled" && event.compensation) compensationsScheduled++
          if (event._tag === "SagaFinished") {
            yield* Metric.increment(Metric.tagged(tagged(sagasFinished), "outcome", event.outcome))
            const took = Date.parse(event.at) - Date.parse(after.startedAt ?? event.at)
            yield* Metric.update(Metric.tagged(tagged(sagaDuration), "outcome", event.outcome), took)
          }
        }
        // Its first compensations: every compensation step it has was scheduled just now.
        const compensations = after.steps.filter((step) => step.compensation).length
        if (compensationsScheduled > 0 && compensations === compensationsScheduled) yield* Metric.increment(tagged(sagasCompensating))
      })

    /** Sends a saga a command under its name, then writes its row in the index. */
    const command = (sagaId: string, sagaCommand: SagaCommand, commandId: string) =>
      Effect.gen(function*() {
        const result = yield* sagas.execute(sagaId, sagaCommand, {
          metadata: { commandId, correlationId: sagaId, causationId: sagaCommand.cause, userId: null, role: "service" }
        })
        yield* store.record(name, sagaId, { state: result.state, version: result.version }, new Date(yield* Clock.currentTimeMillis))
        yield* measure(result.state, result.events)
        return result
      })

    /** An operator's request, by whom: run the parked steps again, or undo what the saga did. */
    const operate = (sagaId: string, request: "Resume" | "Compensate", by: string) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const commandId = commandIdForKey(sagaScope(name, sagaId), `${request.toLowerCase()}:${now}:${by}`)
        return yield* command(sagaId, { _tag: request, by, cause: commandEventId(commandId, 0), at: iso(now) }, commandId)
      })

    return {
      command,
      retry: (sagaId: string, by: string) => operate(sagaId, "Resume", by),
      compensate: (sagaId: string, by: string) => operate(sagaId, "Compensate", by)
    } as const
  })

export const makeProcessManager = <S, R>(process: Process<S, R>, settings: ProcessManagerSettings) =>
  Effect.gen(function*() {
    const store = yield* ProcessStore
    const events = yield* EventStore
    const latest = latestOf(process.definitions)
    const { name } = latest
    const tagged = taggedBy(name)
    const kicks = yield* Queue.sliding<void>(1)
    const kick = Queue.offer(kicks, undefined)
    const { command } = yield* makeSagaCommands(name, process.sagas)
    // The first process manager on this database: sagas begin with what is appended from now on
    // (orders confirmed before were settled without one; from 0 they would be charged again). Done
    // before this process serves, so no command it takes can slip in before the feed's start.
    if (Option.isNone(yield* store.checkpoint(name))) {
      const head = yield* events.headPosition
      yield* store.initCheckpoint(name, head)
      yield* Effect.logInfo("the feed starts at the log's head: sagas begin with the events appended from now on").pipe(
        Effect.annotateLogs({ process: name, position: head })
      )
    }

    const observe = (event: RecordedEvent) =>
      Effect.gen(function*() {
        const observed = toObserved(event)
        const sagaId = latest.sagaIdOf(observed)
        const commandId = commandIdForKey(`process:${name}`, `observe:${event.eventId}`)
        const at = iso(yield* Clock.currentTimeMillis)
        yield* command(sagaId, { _tag: "Observe", event: observed, cause: event.eventId, at }, commandId)
      })

    const subscribed = (event: RecordedEvent) =>
      process.definitions.some((definition) => definition.subscribesTo[event.streamType]?.includes(event.type) ?? false)

    /**
     * Where the checkpoint was last saved, and when. A batch the process hears nothing of (most of the
     * log is other streams, the sagas' own among them) moves it at most once a second: a restart
     * reads that second again, and finds nothing to do in it.
     */
    let saved = { position: -1, at: 0 }

    /** One batch of the log: each saga's events in order, sagas side by side; gives the position reached. */
    const feedBatch = (after: number) =>
      Effect.gen(function*() {
        const batch = yield* events.readAll({ afterPosition: after, limit: settings.batchSize })
        if (batch.length === 0) return after
        const bySaga = new Map<string, Array<RecordedEvent>>()
        for (const event of batch) {
          if (!subscribed(event)) continue
          const sagaId = latest.sagaIdOf(toObserved(event))
          const list = bySaga.get(sagaId)
          if (list === undefined) bySaga.set(sagaId, [event])
          else list.push(event)
        }
        yield* Effect.forEach(bySaga.values(), (sagaEvents) => Effect.forEach(sagaEvents, observe, { discard: true }), {
          concurrency: settings.concurrency,
          discard: true
        })
        const position = batch[batch.length - 1]!.globalPosition
        const now = yield* Clock.currentTimeMillis
        if (bySaga.size > 0 || now - saved.at >= 1_000) {
          yield* store.saveCheckpoint(name, position)
          saved = { position, at: now }
        }
        yield* Metric.set(tagged(feedPosition), position)
        if (bySaga.size > 0) yield* kick
        return position
      })

    /** The feed, while this process leads it: batches until interrupted, woken by the store's NOTIFY. */
    const feed = Effect.gen(function*() {
      const pg = yield* PgClient.PgClient
      const appended = yield* Queue.sliding<void>(1)
      yield* pg.listen(APPENDED_CHANNEL).pipe(
        Stream.runForEach(() => Queue.offer(appended, undefined)),
        Effect.tapErrorCause((cause) => Effect.logDebug("the feed's listen connection failed; polling meanwhile", cause)),
        Effect.retry(Schedule.spaced("1 second")),
        Effect.forkScoped
      )
      let position = Option.getOrElse(yield* store.checkpoint(name), () => 0)
      saved = { position, at: yield* Clock.currentTimeMillis }
      for (;;) {
        const next = yield* feedBatch(position).pipe(
          Effect.tapErrorCause((cause) =>
            Effect.logWarning("the feed could not hand a batch of events to its sagas; it tries again", cause).pipe(
              Effect.annotateLogs({ process: name, afterPosition: position })
            )
          ),
          Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("10 seconds"))))
        )
        if (next === position) {
          // Caught up: whatever was read and not saved is saved before waiting.
          if (saved.position !== position && position > 0) {
            yield* store.saveCheckpoint(name, position).pipe(Effect.ignore)
            saved = { position, at: yield* Clock.currentTimeMillis }
          }
          yield* Queue.take(appended).pipe(Effect.timeout(settings.pollInterval), Effect.ignore)
        }
        position = next
      }
    }).pipe(Effect.scoped)

    /** Runs one attempt of a step and records its outcome. */
    const runStep = (sagaId: string, step: StepState) =>
      Effect.gen(function*() {
        const handler = process.handlers[step.kind]
        const at = iso(yield* Clock.currentTimeMillis)
        const context: StepContext = {
          sagaId,
          step: step.step,
          at,
          metadataFor: (commandKind) => ({
            commandId: commandIdForKey(sagaScope(name, sagaId), `step:${step.step}:${commandKind}`),
            correlationId: sagaId,
            causationId: step.cause,
            userId: null,
            role: "service"
          })
        }
        const crashIf = (moment: "before" | "after") =>
          Effect.sync(() => {
            if (settings.crashAt?.kind === step.kind && settings.crashAt.moment === moment) globalThis.process.kill(globalThis.process.pid, "SIGKILL")
          })
        yield* crashIf("before")
        const exit = yield* Effect.exit(
          handler === undefined
            ? Effect.fail(new StepError({ message: `no handler for steps of kind ${step.kind}` }))
            : handler(step.input, context).pipe(
              Effect.timeoutFail({
                duration: Duration.millis(step.timeoutMs),
                onTimeout: () => new StepError({ message: `the attempt took longer than its ${step.timeoutMs} ms` })
              }),
              Effect.withSpan(`saga step ${step.kind}`, { attributes: { process: name, sagaId, step: step.step } })
            )
        )
        yield* crashIf("after")
        const done = iso(yield* Clock.currentTimeMillis)
        const kindAttempts = Metric.tagged(tagged(stepAttempts), "kind", step.kind)
        if (Exit.isSuccess(exit)) {
          const commandId = commandIdForKey(sagaScope(name, sagaId), `complete:${step.step}`)
          const cause = commandEventId(commandId, 0)
          const result = yield* command(sagaId, { _tag: "CompleteStep", step: step.step, output: exit.value, cause, at: done }, commandId)
          yield* Metric.increment(Metric.tagged(kindAttempts, "outcome", "succeeded"))
          return result
        }
        const error = Option.match(Cause.failureOption(exit.cause), {
          onSome: (failure) => failure.message,
          onNone: () => `the step failed unexpectedly: ${String(Cause.squash(exit.cause))}`
        })
        const attempt = step.attempts + 1
        const commandId = commandIdForKey(sagaScope(name, sagaId), `fail:${step.step}:${attempt}`)
        const result = yield* command(
          sagaId,
          { _tag: "FailStep", step: step.step, error, cause: commandEventId(commandId, 0), at: done },
          commandId
        )
        const parked = result.events.some((event) => event._tag === "StepFailed" && event.retryAt === null)
        yield* Metric.increment(Metric.tagged(kindAttempts, "outcome", parked ? "parked" : "failed"))
        if (parked) {
          yield* Effect.logError("a saga step failed its last attempt and is parked").pipe(
            Effect.annotateLogs({
              process: name,
              sagaId,
              step: step.step,
              attempts: attempt,
              error,
              action: `see \`sagas show ${sagaId}\`; fix the cause, then \`sagas retry ${sagaId}\` (or \`sagas compensate ${sagaId}\`)`
            })
          )
        } else {
          yield* Effect.logWarning("a saga step failed; it is tried again after a backoff").pipe(
            Effect.annotateLogs({ process: name, sagaId, step: step.step, attempt, error })
          )
        }
        return result
      })

    /** Does what is due for a saga now, and what that makes due at once, until nothing is. */
    const wake = (sagaId: string) =>
      Effect.gen(function*() {
        let saga = yield* process.sagas.read(sagaId)
        for (;;) {
          const now = yield* Clock.currentTimeMillis
          const at = iso(now)
          const steps = dueSteps(saga.state, at)
          const timers = dueTimers(saga.state, at)
          if (steps.length === 0 && timers.length === 0) break
          const results = yield* Effect.all([
            ...steps.map((step) => runStep(sagaId, step)),
            ...timers.map((timer) => {
              const dueAt = saga.state.timers[timer]!
              const commandId = commandIdForKey(sagaScope(name, sagaId), `timer:${timer}:${dueAt}`)
              return command(sagaId, { _tag: "FireTimer", timer, cause: commandEventId(commandId, 0), at }, commandId)
            })
          ], { concurrency: "unbounded" })
          saga = results.reduce((newest, result) => (result.version > newest.version ? result : newest), saga)
          // Failed steps wait for their backoff: only what is due now goes round again.
          if (results.every((result) => result.events.length === 0)) break
        }
        yield* store.record(name, sagaId, saga, new Date(yield* Clock.currentTimeMillis))
      }).pipe(
        Effect.ensuring(Effect.ignore(store.release(name, sagaId))),
        Effect.tapErrorCause((cause) =>
          Effect.logWarning("a saga could not be worked on; it is tried again when its lease ends", cause).pipe(
            Effect.annotateLogs({ process: name, sagaId })
          )
        ),
        Effect.ignore
      )

    /** Claims due sagas and works on them, again at once while there were as many as it could take. */
    const waker = Effect.gen(function*() {
      for (;;) {
        const now = yield* Clock.currentTimeMillis
        const claimed = yield* store.claimDue(
          name,
          new Date(now),
          new Date(now + Duration.toMillis(settings.lease)),
          settings.batchSize
        ).pipe(
          Effect.tapErrorCause((cause) => Effect.logWarning("the saga waker could not claim due sagas", cause)),
          Effect.orElseSucceed((): ReadonlyArray<string> => [])
        )
        yield* Effect.forEach(claimed, wake, { concurrency: settings.concurrency, discard: true })
        if (claimed.length < settings.batchSize) {
          yield* Queue.take(kicks).pipe(Effect.timeout(settings.pollInterval), Effect.ignore)
        }
      }
    })

    const measureIndex = Effect.gen(function*() {
      const counts = yield* store.counts(name, new Date(yield* Clock.currentTimeMillis))
      yield* Metric.set(tagged(sagasOpen), counts.running + counts.parked)
      yield* Metric.set(tagged(sagasStuck), counts.stuck)
      yield* Metric.set(tagged(sagasParked), counts.parked)
    }).pipe(Effect.ignore, Effect.repeat(Schedule.spaced("5 seconds")))

    const purgeIndex = purgeForever(
      (limit) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => store.purgeFinished(new Date(now - Duration.toMillis(settings.retention)), limit)),
      "finished sagas' index rows"
    )

    /** Runs until interrupted: the wakers, the gauges, the index's retention, and (when elected) the feed. */
    const run = Effect.all([
      waker,
      measureIndex,
      purgeIndex,
      settings.feed
        ? whileLeading({
          lockKey: FEED_LOCK,
          name: `${name} feed`,
          activeMessage: "this process hands the event log to the sagas",
          onRole: (role) => (settings.role === undefined ? Effect.void : Ref.set(settings.role, role))
        }, () => feed)
        : Effect.never
    ], { concurrency: "unbounded", discard: true }).pipe(Effect.annotateLogs({ component: "process-manager", process: name }))

    return { name, run, observe, wake } as const
  })
