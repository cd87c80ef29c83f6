/**
 * The saga as an aggregate, through the testing kit's given/when/then (as users test their own
 * sagas): what it records for what it sees, retries with backoff, parking, timers, and versioning —
 * a running saga keeps the definition it started with.
 */
import { describe, expect, it } from "vitest"
import { fold } from "../../../src/domain/aggregate.js"
import { type ProcessDefinition, sagaAggregate, type SagaCommand, type SagaEvent } from "../../../src/processes/saga.js"
import { given } from "../../../src/testing/index.js"

const at = "2026-04-01T10:00:00.000Z"
const later = "2026-04-01T10:05:00.000Z"

/** A tiny process: on Started, run `hello`; when it succeeds, finish. Version 2 runs `hello` and then `again`. */
const greeter = (version: number): ProcessDefinition<{ readonly said: number }> => ({
  name: "greeter",
  version,
  subscribesTo: { thing: ["Started", "Poked"] },
  startsWith: ["Started"],
  sagaIdOf: (event) => event.streamId,
  initialState: { said: 0 },
  react: (state, trigger, now) => {
    if (trigger._tag === "Observed" && trigger.event.type === "Started") {
      return { state, decisions: [{ _tag: "Run", request: { step: "hello", kind: "say", input: { v: version }, compensation: false } }, { _tag: "SetTimer", timer: "nudge", dueAt: later }] }
    }
    if (trigger._tag === "StepSucceeded") {
      const said = state.said + 1
      if (version === 2 && trigger.step === "hello") {
        return { state: { said }, decisions: [{ _tag: "Run", request: { step: "again", kind: "say", input: {}, compensation: false } }] }
      }
      return { state: { said }, decisions: [{ _tag: "Finish", outcome: `said ${said} at ${now}` }] }
    }
    return { state, decisions: [] }
  },
  stepTimeoutMs: () => 1000,
  retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 }
})

const observed = (type: string) => ({ eventId: `e-${type}`, streamType: "thing", streamId: "t1", type, data: {} })
const observe = (type: string): SagaCommand => ({ _tag: "Observe", event: observed(type), cause: `e-${type}`, at })
const started: ReadonlyArray<SagaEvent> = [
  { _tag: "SagaStarted", definitionVersion: 1, startedAt: at },
  { _tag: "EventObserved", ...observed("Started"), observedAt: at },
  { _tag: "StepScheduled", step: "hello", kind: "say", input: { v: 1 }, compensation: false, timeoutMs: 1000, cause: "e-Started", scheduledAt: at },
  { _tag: "TimerScheduled", timer: "nudge", dueAt: later }
]

describe("a saga, given/when/then", () => {
  const v1 = sagaAggregate([greeter(1)])

  it("a starting event starts it, recording the version, what it saw and what it decided", () =>
    given(v1, []).when(observe("Started")).then(started))

  it("an event that does not start a saga does nothing before one started", () => given(v1, []).when(observe("Poked")).thenNothing())

  it("a step's success is recorded, and what the definition decides on it", () =>
    given(v1, started).when({ _tag: "CompleteStep", step: "hello", output: "hi", cause: "c", at: later }).then([
      { _tag: "StepSucceeded", step: "hello", output: "hi", at: later },
      { _tag: "SagaFinished", outcome: `said 1 at ${later}`, at: later }
    ]))

  it("a result for a step no longer waited for does nothing (a repeat)", () =>
    given(v1, [...started, { _tag: "StepSucceeded", step: "hello", output: "hi", at }])
      .when({ _tag: "CompleteStep", step: "hello", output: "hi", cause: "c", at: later }).thenNothing())

  it("a failed attempt is retried after a backoff; the last one parks the step; an operator's retry runs it again", () => {
    const fail = (n: number): SagaCommand => ({ _tag: "FailStep", step: "hello", error: `boom ${n}`, cause: "c", at })
    given(v1, started).when(fail(1)).then([{ _tag: "StepFailed", step: "hello", attempt: 1, error: "boom 1", at, retryAt: "2026-04-01T10:00:01.000Z" }])
    const twice: Array<SagaEvent> = [...started,
      { _tag: "StepFailed", step: "hello", attempt: 1, error: "boom 1", at, retryAt: "2026-04-01T10:00:01.000Z" },
      { _tag: "StepFailed", step: "hello", attempt: 2, error: "boom 2", at, retryAt: "2026-04-01T10:00:03.000Z" }]
    given(v1, twice).when(fail(3)).then([{ _tag: "StepFailed", step: "hello", attempt: 3, error: "boom 3", at, retryAt: null }])
    const parked = [...twice, { _tag: "StepFailed", step: "hello", attempt: 3, error: "boom 3", at, retryAt: null } as SagaEvent]
    expect(fold(v1.evolve, v1.initialState, parked).steps[0]).toMatchObject({ status: "parked", attempts: 3 })
    given(v1, parked).when({ _tag: "Resume", by: "ops", cause: "r", at: later }).then([{ _tag: "StepsResumed", by: "ops", at: later }])
    expect(fold(v1.evolve, v1.initialState, [...parked, { _tag: "StepsResumed", by: "ops", at: later }]).steps[0])
      .toMatchObject({ status: "scheduled", attempts: 0, notBefore: later })
    given(v1, started).when({ _tag: "Resume", by: "ops", cause: "r", at: later }).thenRefuses("nothing-to-retry")
  })

  it("a timer fires once, when due", () => {
    given(v1, started).when({ _tag: "FireTimer", timer: "nudge", cause: "t", at }).thenNothing()
    given(v1, started).when({ _tag: "FireTimer", timer: "nudge", cause: "t", at: later }).then([{ _tag: "TimerFired", timer: "nudge", at: later }])
    given(v1, [...started, { _tag: "TimerFired", timer: "nudge", at: later }]).when({ _tag: "FireTimer", timer: "nudge", cause: "t", at: later }).thenNothing()
  })

  it("versioning: a saga started with version 1 finishes with it after version 2 is registered; new sagas start with version 2", () => {
    const both = sagaAggregate([greeter(1), greeter(2)])
    // Started under version 1: its step's success finishes it, as version 1 decides.
    given(both, started).when({ _tag: "CompleteStep", step: "hello", output: "hi", cause: "c", at: later }).then([
      { _tag: "StepSucceeded", step: "hello", output: "hi", at: later },
      { _tag: "SagaFinished", outcome: `said 1 at ${later}`, at: later }
    ])
    // A new saga: version 2, whose `hello` is followed by `again`.
    const fresh = both.decide(observe("Started"), both.initialState)
    expect(fresh._tag === "Right" && fresh.right[0]).toEqual({ _tag: "SagaStarted", definitionVersion: 2, startedAt: at })
    const v2started = fresh._tag === "Right" ? fresh.right : []
    given(both, v2started).when({ _tag: "CompleteStep", step: "hello", output: "hi", cause: "c", at: later }).then([
      { _tag: "StepSucceeded", step: "hello", output: "hi", at: later },
      { _tag: "StepScheduled", step: "again", kind: "say", input: {}, compensation: false, timeoutMs: 1000, cause: "c", scheduledAt: later }
    ])
  })

  it("a version no longer registered is a defect that names it", () => {
    const onlyV2 = sagaAggregate([greeter(2)])
    expect(() => fold(onlyV2.evolve, onlyV2.initialState, started)).toThrow(/greeter version 1 is not registered/)
  })
})
