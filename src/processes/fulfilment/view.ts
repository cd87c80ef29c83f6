/**
 * An order's fulfilment saga as people read it (GET /orders/{id}/fulfilment, the console): its
 * phase, each step with its times, outcome and attempts, any compensation, its timers. Undefined
 * before the saga started.
 */
import type { SagaState } from "../saga.js"
import type { FulfilmentState } from "./definition.js"

export const fulfilmentView = (state: SagaState<FulfilmentState>, version: number) =>
  state.status === "none" || state.version === null || state.startedAt === null ? undefined : {
    definitionVersion: state.version,
    status: state.status,
    outcome: state.outcome,
    phase: state.data.phase,
    cancelReason: state.data.cancelReason,
    compensating: state.steps.some((step) => step.compensation),
    startedAt: state.startedAt,
    finishedAt: state.finishedAt,
    version,
    steps: state.steps.map(({ attempts, compensation, finishedAt, input, kind, lastError, output, scheduledAt, status, step }) => ({
      step,
      kind,
      input,
      status,
      attempts,
      compensation,
      scheduledAt,
      finishedAt,
      lastError,
      output
    })),
    timers: Object.entries(state.timers).map(([timer, dueAt]) => ({ timer, dueAt }))
  }

export type FulfilmentView = NonNullable<ReturnType<typeof fulfilmentView>>
