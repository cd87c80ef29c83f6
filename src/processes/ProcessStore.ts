/**
 * The process manager's index of its sagas and its feed's checkpoints (migrations/0010_processes.sql).
 * A saga's truth is its stream; its row here says when it next has something to do and how it stands,
 * and is rewritten from the saga's state after every change, never from an older stream version.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Context, Effect, Layer, Option } from "effect"
import { deadlineOf, nextWakeOf, parkedSteps, type SagaState } from "./saga.js"

export type SagaStatus = "running" | "parked" | "finished"

export interface SagaRow {
  readonly process: string
  readonly sagaId: string
  readonly definitionVersion: number
  readonly status: SagaStatus
  readonly outcome: string | null
  readonly streamVersion: number
  readonly nextWakeAt: Date | null
  readonly deadlineAt: Date | null
  readonly currentStep: string | null
  readonly attempts: number
  readonly lastError: string | null
  readonly startedAt: Date
  readonly updatedAt: Date
  readonly finishedAt: Date | null
}

export interface SagaCounts {
  readonly running: number
  /** Running, and past the deadline of a step: nothing is running it. */
  readonly stuck: number
  /** A step failed every attempt and waits for an operator. */
  readonly parked: number
}

export interface ProcessStoreShape {
  /** Writes the saga's row from its state at `version`, unless the row is past that version. */
  readonly record: (process: string, sagaId: string, saga: { readonly state: SagaState<unknown>; readonly version: number }, now: Date) => Effect.Effect<void, SqlError.SqlError>
  /**
   * Up to `limit` sagas with something due at `now` that no one else holds, leased to the caller
   * until `leaseUntil`: another waker leaves them alone until then, or until `release`.
   */
  readonly claimDue: (process: string, now: Date, leaseUntil: Date, limit: number) => Effect.Effect<ReadonlyArray<string>, SqlError.SqlError>
  readonly release: (process: string, sagaId: string) => Effect.Effect<void, SqlError.SqlError>
  /** Where the process's feed has read to; none before it first saved one. */
  readonly checkpoint: (process: string) => Effect.Effect<Option.Option<number>, SqlError.SqlError>
  readonly saveCheckpoint: (process: string, position: number) => Effect.Effect<void, SqlError.SqlError>
  /** Saves `position` as the checkpoint unless the process has one. */
  readonly initCheckpoint: (process: string, position: number) => Effect.Effect<void, SqlError.SqlError>
  /** Sagas, newest first: all, those not finished, or the stuck and parked ones at `now`. */
  readonly list: (process: string, filter: { readonly only: "all" | "open" | "stuck"; readonly now: Date; readonly limit: number }) => Effect.Effect<ReadonlyArray<SagaRow>, SqlError.SqlError>
  readonly find: (process: string, sagaId: string) => Effect.Effect<SagaRow | undefined, SqlError.SqlError>
  readonly counts: (process: string, now: Date) => Effect.Effect<SagaCounts, SqlError.SqlError>
  /** Deletes up to `limit` rows of sagas finished before `before` (their streams stay); gives how many. */
  readonly purgeFinished: (before: Date, limit: number) => Effect.Effect<number, SqlError.SqlError>
}

export class ProcessStore extends Context.Tag("app/ProcessStore")<ProcessStore, ProcessStoreShape>() {}

interface Row {
  readonly process: string
  readonly saga_id: string
  readonly definition_version: number
  readonly status: SagaStatus
  readonly outcome: string | null
  readonly stream_version: number
  readonly next_wake_at: Date | null
  readonly deadline_at: Date | null
  readonly current_step: string | null
  readonly attempts: number
  readonly last_error: string | null
  readonly started_at: Date
  readonly updated_at: Date
  readonly finished_at: Date | null
}

const fromRow = (row: Row): SagaRow => ({
  process: row.process,
  sagaId: row.saga_id,
  definitionVersion: row.definition_version,
  status: row.status,
  outcome: row.outcome,
  streamVersion: row.stream_version,
  nextWakeAt: row.next_wake_at,
  deadlineAt: row.deadline_at,
  currentStep: row.current_step,
  attempts: row.attempts,
  lastError: row.last_error,
  startedAt: row.started_at,
  updatedAt: row.updated_at,
  finishedAt: row.finished_at
})

const dateOrNull = (iso: string | null) => (iso === null ? null : new Date(iso))

/** The row's columns from a saga's state: the step it is at is its first parked or scheduled one. */
export const rowOf = (state: SagaState<unknown>) => {
  const parked = parkedSteps(state)
  const current = parked[0] ?? state.steps.find((step) => step.status === "scheduled")
  return {
    status: (state.status === "finished" ? "finished" : parked.length > 0 ? "parked" : "running") as SagaStatus,
    nextWakeAt: dateOrNull(nextWakeOf(state)),
    deadlineAt: state.status === "running" ? dateOrNull(deadlineOf(state)) : null,
    currentStep: current?.step ?? null,
    attempts: current?.attempts ?? 0,
    lastError: current?.lastError ?? null
  }
}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const record: ProcessStoreShape["record"] = (process, sagaId, saga, now) => {
    const { state, version } = saga
    if (state.version === null || state.startedAt === null) return Effect.void
    const row = rowOf(state)
    return Effect.asVoid(sql`
      INSERT INTO process_instances (process, saga_id, definition_version, status, outcome, stream_version, next_wake_at,
        deadline_at, current_step, attempts, last_error, started_at, updated_at, finished_at)
      VALUES (${process}, ${sagaId}, ${state.version}, ${row.status}, ${state.outcome}, ${version}, ${row.nextWakeAt},
        ${row.deadlineAt}, ${row.currentStep}, ${row.attempts}, ${row.lastError}, ${new Date(state.startedAt)}, ${now},
        ${dateOrNull(state.finishedAt)})
      ON CONFLICT (process, saga_id) DO UPDATE SET
        status = EXCLUDED.status, outcome = EXCLUDED.outcome, stream_version = EXCLUDED.stream_version,
        next_wake_at = EXCLUDED.next_wake_at, deadline_at = EXCLUDED.deadline_at, current_step = EXCLUDED.current_step,
        attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, updated_at = EXCLUDED.updated_at,
        finished_at = EXCLUDED.finished_at
      WHERE process_instances.stream_version <= EXCLUDED.stream_version`)
  }

  const claimDue: ProcessStoreShape["claimDue"] = (process, now, leaseUntil, limit) =>
    sql<{ saga_id: string }>`
      UPDATE process_instances SET leased_until = ${leaseUntil}
      WHERE (process, saga_id) IN (
        SELECT process, saga_id FROM process_instances
        WHERE process = ${process} AND next_wake_at <= ${now} AND (leased_until IS NULL OR leased_until <= ${now})
        ORDER BY next_wake_at LIMIT ${limit}
        FOR UPDATE SKIP LOCKED)
      RETURNING saga_id`.pipe(Effect.map((rows) => rows.map((row) => row.saga_id)))

  const release: ProcessStoreShape["release"] = (process, sagaId) =>
    Effect.asVoid(sql`UPDATE process_instances SET leased_until = NULL WHERE process = ${process} AND saga_id = ${sagaId}`)

  const checkpoint: ProcessStoreShape["checkpoint"] = (process) =>
    sql<{ position: number }>`SELECT position FROM process_checkpoints WHERE process = ${process}`.pipe(
      Effect.map((rows) => Option.fromNullable(rows[0]?.position))
    )

  const saveCheckpoint: ProcessStoreShape["saveCheckpoint"] = (process, position) =>
    Effect.asVoid(sql`
      INSERT INTO process_checkpoints (process, position) VALUES (${process}, ${position})
      ON CONFLICT (process) DO UPDATE SET position = EXCLUDED.position, updated_at = now()`)

  const initCheckpoint: ProcessStoreShape["initCheckpoint"] = (process, position) =>
    Effect.asVoid(sql`INSERT INTO process_checkpoints (process, position) VALUES (${process}, ${position}) ON CONFLICT (process) DO NOTHING`)

  const columns = sql`process, saga_id, definition_version, status, outcome, stream_version, next_wake_at, deadline_at,
    current_step, attempts, last_error, started_at, updated_at, finished_at`

  const list: ProcessStoreShape["list"] = (process, filter) => {
    const where = filter.only === "all"
      ? sql`TRUE`
      : filter.only === "open"
      ? sql`status <> 'finished'`
      : sql`(status = 'parked' OR (status = 'running' AND deadline_at < ${filter.now}))`
    return sql<Row>`SELECT ${columns} FROM process_instances WHERE process = ${process} AND ${where}
      ORDER BY started_at DESC LIMIT ${filter.limit}`.pipe(Effect.map((rows) => rows.map(fromRow)))
  }

  const find: ProcessStoreShape["find"] = (process, sagaId) =>
    sql<Row>`SELECT ${columns} FROM process_instances WHERE process = ${process} AND saga_id = ${sagaId}`.pipe(
      Effect.map((rows) => (rows[0] === undefined ? undefined : fromRow(rows[0])))
    )

  const counts: ProcessStoreShape["counts"] = (process, now) =>
    sql<{ running: number; stuck: number; parked: number }>`
      SELECT count(*) FILTER (WHERE status = 'running')::int AS running,
             count(*) FILTER (WHERE status = 'running' AND deadline_at < ${now})::int AS stuck,
             count(*) FILTER (WHERE status = 'parked')::int AS parked
      FROM process_instances WHERE process = ${process} AND status <> 'finished'`.pipe(
      Effect.map((rows) => rows[0] ?? { running: 0, stuck: 0, parked: 0 })
    )

  const purgeFinished: ProcessStoreShape["purgeFinished"] = (before, limit) =>
    sql<{ saga_id: string }>`
      DELETE FROM process_instances WHERE (process, saga_id) IN (
        SELECT process, saga_id FROM process_instances WHERE status = 'finished' AND finished_at < ${before} LIMIT ${limit})
      RETURNING saga_id`.pipe(Effect.map((rows) => rows.length))

  return ProcessStore.of({ record, claimDue, release, checkpoint, saveCheckpoint, initCheckpoint, list, find, counts, purgeFinished })
})

export const layer = Layer.effect(ProcessStore, make)
