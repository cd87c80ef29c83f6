/**
 * A saga (process manager) as an event-sourced aggregate of its own: its stream records what it saw
 * (events of other aggregates, its steps' results, its timers firing, an operator's request) and
 * what it decided (steps to run, timers to set, the end). Its state is the fold of that stream, so it
 * survives any crash, and one actor per saga serializes what happens to it, as for any aggregate.
 *
 * The business logic is a definition's pure `react`: given its state and what happened, its next
 * state and its decisions. The steps themselves (commands to other aggregates, calls to a provider)
 * are run by the process manager (ProcessManager.ts), at least once each; what they do must be
 * idempotent, which the named commands and idempotency keys they carry make them.
 *
 * Versioning: a saga records the version of the definition it started with, and is folded and
 * decided by that version's `react` until it finishes; new sagas start with the latest.
 */
import { Either, Schema } from "effect"
import { type AggregateDefinition, categoryStreams, type DomainError, RuleViolated } from "../domain/aggregate.js"
import { makeEventCatalog } from "../domain/events.js"

/** An event of another aggregate, as a saga sees it. */
export interface ObservedEvent {
  readonly eventId: string
  readonly streamType: string
  readonly streamId: string
  readonly type: string
  readonly data: unknown
}

/** What a definition reacts to. */
export type Trigger =
  | { readonly _tag: "Observed"; readonly event: ObservedEvent }
  | { readonly _tag: "StepSucceeded"; readonly step: string; readonly kind: string; readonly input: unknown; readonly output: unknown }
  | { readonly _tag: "TimerFired"; readonly timer: string }
  | { readonly _tag: "CompensationRequested"; readonly by: string }

/** A step for the process manager to run: `kind` names its handler, `step` is unique within the saga. */
export interface StepRequest {
  readonly step: string
  readonly kind: string
  readonly input: unknown
  /** It undoes what an earlier step did (counted as compensation). */
  readonly compensation: boolean
}

export type Decision =
  | { readonly _tag: "Run"; readonly request: StepRequest }
  | { readonly _tag: "SetTimer"; readonly timer: string; readonly dueAt: string }
  | { readonly _tag: "CancelTimer"; readonly timer: string }
  | { readonly _tag: "Finish"; readonly outcome: string }

export interface Reaction<S> {
  readonly state: S
  readonly decisions: ReadonlyArray<Decision>
}

export interface RetryPolicy {
  /** Attempts of a step before it is parked for an operator. */
  readonly maxAttempts: number
  readonly baseDelayMs: number
  readonly maxDelayMs: number
}

export interface ProcessDefinition<S> {
  /** The sagas' stream type. */
  readonly name: string
  /** Bump it for any change to `react` or to the state it folds: running sagas keep their version. */
  readonly version: number
  /** The events it hears, by stream type. */
  readonly subscribesTo: Readonly<Record<string, ReadonlyArray<string>>>
  /** Which of them start a saga (the others reach only a saga already started). */
  readonly startsWith: ReadonlyArray<string>
  /** The saga an event belongs to. */
  readonly sagaIdOf: (event: ObservedEvent) => string
  readonly initialState: S
  /** Pure: `now` is the moment of the trigger (ISO-8601). */
  readonly react: (state: S, trigger: Trigger, now: string) => Reaction<S>
  /** How long one attempt of a step of this kind may take before it counts as failed. */
  readonly stepTimeoutMs: (kind: string) => number
  readonly retry: RetryPolicy
}

export type AnyProcessDefinition = ProcessDefinition<any>

export type StepStatus = "scheduled" | "succeeded" | "parked"

export interface StepState {
  readonly step: string
  readonly kind: string
  readonly input: unknown
  readonly compensation: boolean
  /** The event it stems from: the causation id of the commands it sends. */
  readonly cause: string
  readonly status: StepStatus
  /** Failed attempts so far (reset when an operator retries). */
  readonly attempts: number
  readonly scheduledAt: string
  /** Not to be run before this moment (its retry's backoff). */
  readonly notBefore: string
  readonly timeoutMs: number
  readonly lastError: string | null
  readonly finishedAt: string | null
  readonly output: unknown
}

export interface SagaState<S> {
  /** The definition version it runs; null before it started. */
  readonly version: number | null
  readonly status: "none" | "running" | "finished"
  readonly outcome: string | null
  readonly startedAt: string | null
  readonly finishedAt: string | null
  readonly data: S
  /** In the order they were scheduled. */
  readonly steps: ReadonlyArray<StepState>
  readonly timers: Readonly<Record<string, string>>
}

/**
 * What happens to a saga. Every command carries `cause`: the id of the event it stems from (the
 * observed event, or the saga's own record of a step's result), which becomes the causation id of
 * what the saga decides on it.
 */
export type SagaCommand =
  | { readonly _tag: "Observe"; readonly event: ObservedEvent; readonly cause: string; readonly at: string }
  | { readonly _tag: "CompleteStep"; readonly step: string; readonly output: unknown; readonly cause: string; readonly at: string }
  | { readonly _tag: "FailStep"; readonly step: string; readonly error: string; readonly cause: string; readonly at: string }
  | { readonly _tag: "FireTimer"; readonly timer: string; readonly cause: string; readonly at: string }
  | { readonly _tag: "Resume"; readonly by: string; readonly cause: string; readonly at: string }
  | { readonly _tag: "Compensate"; readonly by: string; readonly cause: string; readonly at: string }

const Json = Schema.Unknown

export const SagaStarted = Schema.TaggedStruct("SagaStarted", { definitionVersion: Schema.Int, startedAt: Schema.String })
export const EventObserved = Schema.TaggedStruct("EventObserved", {
  eventId: Schema.String,
  streamType: Schema.String,
  streamId: Schema.String,
  type: Schema.String,
  data: Json,
  observedAt: Schema.String
})
export const StepScheduled = Schema.TaggedStruct("StepScheduled", {
  step: Schema.String,
  kind: Schema.String,
  input: Json,
  compensation: Schema.Boolean,
  timeoutMs: Schema.Int,
  cause: Schema.String,
  scheduledAt: Schema.String
})
export const StepSucceeded = Schema.TaggedStruct("StepSucceeded", { step: Schema.String, output: Json, at: Schema.String })
export const StepFailed = Schema.TaggedStruct("StepFailed", {
  step: Schema.String,
  attempt: Schema.Int,
  error: Schema.String,
  at: Schema.String,
  /** When to try again; null: the step is parked until an operator retries it. */
  retryAt: Schema.NullOr(Schema.String)
})
export const StepsResumed = Schema.TaggedStruct("StepsResumed", { by: Schema.String, at: Schema.String })
export const TimerScheduled = Schema.TaggedStruct("TimerScheduled", { timer: Schema.String, dueAt: Schema.String })
export const TimerCancelled = Schema.TaggedStruct("TimerCancelled", { timer: Schema.String })
export const TimerFired = Schema.TaggedStruct("TimerFired", { timer: Schema.String, at: Schema.String })
export const CompensationRequested = Schema.TaggedStruct("CompensationRequested", { by: Schema.String, at: Schema.String })
export const SagaFinished = Schema.TaggedStruct("SagaFinished", { outcome: Schema.String, at: Schema.String })

export const SagaEvent = Schema.Union(
  SagaStarted,
  EventObserved,
  StepScheduled,
  StepSucceeded,
  StepFailed,
  StepsResumed,
  TimerScheduled,
  TimerCancelled,
  TimerFired,
  CompensationRequested,
  SagaFinished
)
export type SagaEvent = typeof SagaEvent.Type

export const sagaEvents = makeEventCatalog(SagaEvent, {
  SagaStarted: { schemaVersion: 1 },
  EventObserved: { schemaVersion: 1 },
  StepScheduled: { schemaVersion: 1 },
  StepSucceeded: { schemaVersion: 1 },
  StepFailed: { schemaVersion: 1 },
  StepsResumed: { schemaVersion: 1 },
  TimerScheduled: { schemaVersion: 1 },
  TimerCancelled: { schemaVersion: 1 },
  TimerFired: { schemaVersion: 1 },
  CompensationRequested: { schemaVersion: 1 },
  SagaFinished: { schemaVersion: 1 }
})

/** The delay before attempt `failed + 1`: exponential from the base, capped, without jitter (the saga is pure). */
export const backoffMs = (retry: RetryPolicy, failed: number) =>
  Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** Math.max(0, failed - 1))

const plusMs = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString()

/** The steps due at `now`, in the order they were scheduled. */
export const dueSteps = (state: SagaState<unknown>, now: string): ReadonlyArray<StepState> =>
  state.steps.filter((step) => step.status === "scheduled" && step.notBefore <= now)

/** The timers due at `now`. */
export const dueTimers = (state: SagaState<unknown>, now: string): ReadonlyArray<string> =>
  Object.entries(state.timers).filter(([, dueAt]) => dueAt <= now).map(([timer]) => timer)

/** When the saga next has something to do: its earliest step or timer; null when it waits only for events. */
export const nextWakeOf = (state: SagaState<unknown>): string | null => {
  if (state.status !== "running") return null
  let next: string | null = null
  for (const step of state.steps) if (step.status === "scheduled" && (next === null || step.notBefore < next)) next = step.notBefore
  for (const dueAt of Object.values(state.timers)) if (next === null || dueAt < next) next = dueAt
  return next
}

/** By when its earliest scheduled step should be done: past it, the saga is stuck (no one is running it). */
export const deadlineOf = (state: SagaState<unknown>): string | null => {
  let deadline: string | null = null
  for (const step of state.steps) {
    if (step.status !== "scheduled") continue
    const end = plusMs(step.notBefore, step.timeoutMs)
    if (deadline === null || end < deadline) deadline = end
  }
  return deadline
}

export const parkedSteps = (state: SagaState<unknown>) => state.steps.filter((step) => step.status === "parked")

/**
 * The sagas of one process as an aggregate: `definitions` are its versions (one name), the latest
 * starting new sagas.
 */
export const sagaAggregate = <S>(
  definitions: ReadonlyArray<ProcessDefinition<S>>
): AggregateDefinition<SagaState<S>, SagaCommand, SagaEvent> => {
  const latest = definitions.reduce((a, b) => (b.version > a.version ? b : a))
  const byVersion = new Map(definitions.map((definition) => [definition.version, definition]))
  if (byVersion.size !== definitions.length || definitions.some((definition) => definition.name !== latest.name)) {
    throw new Error(`the versions of a process must share its name and differ in number: ${definitions.map((d) => `${d.name}@${d.version}`).join(", ")}`)
  }
  const definitionOf = (state: SagaState<S>) => {
    const definition = byVersion.get(state.version ?? latest.version)
    if (definition === undefined) throw new Error(`${latest.name} version ${state.version} is not registered: keep it until its sagas finish`)
    return definition
  }

  const initialState: SagaState<S> = {
    version: null,
    status: "none",
    outcome: null,
    startedAt: null,
    finishedAt: null,
    data: latest.initialState,
    steps: [],
    timers: {}
  }

  const refuse = (rule: string, message: string) => Either.left<DomainError>(new RuleViolated({ rule, message }))

  /** The events recording what the definition decided, in order. */
  const record = (state: SagaState<S>, decisions: ReadonlyArray<Decision>, cause: string, at: string): Array<SagaEvent> => {
    const definition = definitionOf(state)
    const known = new Set(state.steps.map((step) => step.step))
    const timers = new Set(Object.keys(state.timers))
    const events: Array<SagaEvent> = []
    for (const decision of decisions) {
      switch (decision._tag) {
        case "Run": {
          const { step, kind, input, compensation } = decision.request
          if (known.has(step)) throw new Error(`${definition.name}@${definition.version} scheduled step ${step} twice`)
          known.add(step)
          events.push({ _tag: "StepScheduled", step, kind, input, compensation, timeoutMs: definition.stepTimeoutMs(kind), cause, scheduledAt: at })
          break
        }
        case "SetTimer":
          timers.add(decision.timer)
          events.push({ _tag: "TimerScheduled", timer: decision.timer, dueAt: decision.dueAt })
          break
        case "CancelTimer":
          if (timers.delete(decision.timer)) events.push({ _tag: "TimerCancelled", timer: decision.timer })
          break
        case "Finish":
          events.push({ _tag: "SagaFinished", outcome: decision.outcome, at })
      }
    }
    return events
  }

  const stepNamed = (state: SagaState<S>, step: string) => state.steps.find((candidate) => candidate.step === step)

  const decide = (command: SagaCommand, state: SagaState<S>): Either.Either<ReadonlyArray<SagaEvent>, DomainError> => {
    if (command._tag === "Observe") {
      const { event, at } = command
      const observed: SagaEvent = { _tag: "EventObserved", ...event, observedAt: at }
      if (state.status === "finished") return Either.right([])
      if (state.status === "none") {
        if (!latest.startsWith.includes(event.type)) return Either.right([])
        const started: SagaState<S> = { ...initialState, version: latest.version, status: "running", startedAt: at }
        const reaction = latest.react(latest.initialState, { _tag: "Observed", event }, at)
        return Either.right([
          { _tag: "SagaStarted", definitionVersion: latest.version, startedAt: at },
          observed,
          ...record(started, reaction.decisions, command.cause, at)
        ])
      }
      const reaction = definitionOf(state).react(state.data, { _tag: "Observed", event }, at)
      return Either.right([observed, ...record(state, reaction.decisions, command.cause, at)])
    }
    if (state.status === "none") return Either.left(new RuleViolated({ rule: "saga-not-started", message: "no saga runs under this id" }))

    switch (command._tag) {
      case "CompleteStep": {
        const step = stepNamed(state, command.step)
        // A result recorded before, or for a step it no longer waits for: nothing to do.
        if (step === undefined || step.status !== "scheduled" || state.status === "finished") return Either.right([])
        const trigger: Trigger = { _tag: "StepSucceeded", step: step.step, kind: step.kind, input: step.input, output: command.output }
        const reaction = definitionOf(state).react(state.data, trigger, command.at)
        return Either.right([
          { _tag: "StepSucceeded", step: step.step, output: command.output, at: command.at },
          ...record(state, reaction.decisions, command.cause, command.at)
        ])
      }
      case "FailStep": {
        const step = stepNamed(state, command.step)
        if (step === undefined || step.status !== "scheduled" || state.status === "finished") return Either.right([])
        const { retry } = definitionOf(state)
        const attempt = step.attempts + 1
        const retryAt = attempt >= retry.maxAttempts ? null : plusMs(command.at, backoffMs(retry, attempt))
        return Either.right([{ _tag: "StepFailed", step: step.step, attempt, error: command.error, at: command.at, retryAt }])
      }
      case "FireTimer": {
        const dueAt = state.timers[command.timer]
        if (dueAt === undefined || dueAt > command.at || state.status === "finished") return Either.right([])
        const reaction = definitionOf(state).react(state.data, { _tag: "TimerFired", timer: command.timer }, command.at)
        return Either.right([
          { _tag: "TimerFired", timer: command.timer, at: command.at },
          ...record(state, reaction.decisions, command.cause, command.at)
        ])
      }
      case "Resume":
        if (parkedSteps(state).length === 0) {
          return refuse("nothing-to-retry", `no step of this saga is parked (it is ${state.status})`)
        }
        return Either.right([{ _tag: "StepsResumed", by: command.by, at: command.at }])
      case "Compensate": {
        if (state.status === "finished") return refuse("saga-finished", `the saga has finished: ${state.outcome}`)
        const reaction = definitionOf(state).react(state.data, { _tag: "CompensationRequested", by: command.by }, command.at)
        return Either.right([
          { _tag: "CompensationRequested", by: command.by, at: command.at },
          ...record(state, reaction.decisions, command.cause, command.at)
        ])
      }
    }
  }

  const updateStep = (state: SagaState<S>, name: string, change: (step: StepState) => StepState): SagaState<S> => ({
    ...state,
    steps: state.steps.map((step) => (step.step === name ? change(step) : step))
  })

  const withoutTimer = (state: SagaState<S>, timer: string): SagaState<S> => {
    const { [timer]: _gone, ...timers } = state.timers
    return { ...state, timers }
  }

  const reactedTo = (state: SagaState<S>, trigger: Trigger, at: string): S => definitionOf(state).react(state.data, trigger, at).state

  const evolve = (state: SagaState<S>, event: SagaEvent): SagaState<S> => {
    switch (event._tag) {
      case "SagaStarted":
        return { ...state, version: event.definitionVersion, status: "running", startedAt: event.startedAt }
      case "EventObserved": {
        const { observedAt, _tag, ...observed } = event
        return { ...state, data: reactedTo(state, { _tag: "Observed", event: observed }, observedAt) }
      }
      case "StepScheduled":
        return {
          ...state,
          steps: [...state.steps, {
            step: event.step,
            kind: event.kind,
            input: event.input,
            compensation: event.compensation,
            cause: event.cause,
            status: "scheduled",
            attempts: 0,
            scheduledAt: event.scheduledAt,
            notBefore: event.scheduledAt,
            timeoutMs: event.timeoutMs,
            lastError: null,
            finishedAt: null,
            output: null
          }]
        }
      case "StepSucceeded": {
        const step = stepNamed(state, event.step)!
        const trigger: Trigger = { _tag: "StepSucceeded", step: step.step, kind: step.kind, input: step.input, output: event.output }
        const done = updateStep(state, event.step, (s) => ({ ...s, status: "succeeded", finishedAt: event.at, output: event.output }))
        return { ...done, data: reactedTo(state, trigger, event.at) }
      }
      case "StepFailed":
        return updateStep(state, event.step, (step) => ({
          ...step,
          attempts: event.attempt,
          lastError: event.error,
          status: event.retryAt === null ? "parked" : "scheduled",
          notBefore: event.retryAt ?? step.notBefore
        }))
      case "StepsResumed":
        return {
          ...state,
          steps: state.steps.map((step) =>
            step.status === "parked" ? { ...step, status: "scheduled", attempts: 0, notBefore: event.at } : step
          )
        }
      case "TimerScheduled":
        return { ...state, timers: { ...state.timers, [event.timer]: event.dueAt } }
      case "TimerCancelled":
        return withoutTimer(state, event.timer)
      case "TimerFired":
        return { ...withoutTimer(state, event.timer), data: reactedTo(state, { _tag: "TimerFired", timer: event.timer }, event.at) }
      case "CompensationRequested":
        return { ...state, data: reactedTo(state, { _tag: "CompensationRequested", by: event.by }, event.at) }
      case "SagaFinished":
        return { ...state, status: "finished", outcome: event.outcome, finishedAt: event.at, timers: {} }
    }
  }

  // A saga's id is often another aggregate's (the fulfilment saga's is its order's): its stream is its own.
  return { streamType: latest.name, initialState, decide, evolve, events: sagaEvents, streamIdOf: categoryStreams(latest.name) }
}
