/**
 * The quarantine: what can never be processed, parked with the reason so that the stream it blocked
 * moves on, counted, listed and retried by an operator (tables in migrations/0008_quarantine.sql).
 * Nothing is dropped in silence: a parked row stays until it is retried.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Context, type Duration, Effect, Layer, Metric, Schedule } from "effect"

export const quarantineSources = ["outbox:events", "outbox:notifications", "projector:order_summaries"] as const
export type QuarantineSource = typeof quarantineSources[number]

export interface Parked {
  readonly id: number
  readonly source: QuarantineSource
  readonly globalPosition: number | null
  readonly reason: string
  readonly received: string | null
  readonly quarantinedAt: Date
  readonly retriedAt: Date | null
}

export interface QuarantineStoreShape {
  readonly park: (entry: {
    readonly source: QuarantineSource
    readonly globalPosition?: number | undefined
    readonly reason: string
    readonly received?: string | undefined
  }) => Effect.Effect<void, SqlError.SqlError>
  /** Parked entries not yet retried (or all, with `all`), oldest first. */
  readonly list: (options?: { readonly all?: boolean }) => Effect.Effect<ReadonlyArray<Parked>, SqlError.SqlError>
  readonly markRetried: (id: number) => Effect.Effect<void, SqlError.SqlError>
  /** Parked entries not yet retried, by source (0 for a source with none). */
  readonly countBySource: Effect.Effect<Readonly<Record<QuarantineSource, number>>, SqlError.SqlError>
}

export class QuarantineStore extends Context.Tag("app/QuarantineStore")<QuarantineStore, QuarantineStoreShape>() {}

export const quarantinedTotal = Metric.counter("quarantined_total", {
  description: "Rows and messages parked in the quarantine because they can never be processed, by source",
  incremental: true
})

const parkedRows = Metric.gauge("quarantined_rows", {
  description: "Entries parked in the quarantine and not yet retried, by source: each waits for an operator (`quarantine list`)"
})

/** Sets `quarantined_rows` from the table, every `interval`, until interrupted (a failed count is skipped). */
export const measureParked = (interval: Duration.DurationInput) =>
  Effect.flatMap(QuarantineStore, (store) =>
    store.countBySource.pipe(
      Effect.flatMap((counts) =>
        Effect.forEach(quarantineSources, (source) => Metric.set(Metric.tagged(parkedRows, "source", source), counts[source]))
      ),
      Effect.ignore,
      Effect.repeat(Schedule.spaced(interval))
    ))

interface Row {
  readonly id: number
  readonly source: QuarantineSource
  readonly global_position: number | null
  readonly reason: string
  readonly received: string | null
  readonly quarantined_at: Date
  readonly retried_at: Date | null
}

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const park: QuarantineStoreShape["park"] = (entry) =>
    sql`INSERT INTO quarantine (source, global_position, reason, received)
        VALUES (${entry.source}, ${entry.globalPosition ?? null}, ${entry.reason}, ${entry.received ?? null})
        ON CONFLICT (source, global_position) WHERE global_position IS NOT NULL
        DO UPDATE SET reason = EXCLUDED.reason, quarantined_at = now(), retried_at = NULL`.pipe(
      Effect.zipRight(Metric.increment(Metric.tagged(quarantinedTotal, "source", entry.source))),
      Effect.zipRight(
        Effect.logError("parked in the quarantine: it can never be processed as it is; the stream goes on").pipe(
          Effect.annotateLogs({
            source: entry.source,
            globalPosition: entry.globalPosition ?? null,
            reason: entry.reason,
            action: "see `quarantine list`; fix the cause, then `quarantine retry`"
          })
        )
      )
    )

  const list: QuarantineStoreShape["list"] = (options) =>
    sql<Row>`SELECT id, source, global_position, reason, received, quarantined_at, retried_at FROM quarantine
      WHERE ${options?.all === true} OR retried_at IS NULL ORDER BY id`.pipe(
      Effect.map((rows) =>
        rows.map((row): Parked => ({
          id: row.id,
          source: row.source,
          globalPosition: row.global_position,
          reason: row.reason,
          received: row.received,
          quarantinedAt: row.quarantined_at,
          retriedAt: row.retried_at
        }))
      )
    )

  const markRetried: QuarantineStoreShape["markRetried"] = (id) =>
    Effect.asVoid(sql`UPDATE quarantine SET retried_at = now() WHERE id = ${id}`)

  const countBySource: QuarantineStoreShape["countBySource"] = sql<{ source: QuarantineSource; parked: number }>`
    SELECT source, count(*)::int AS parked FROM quarantine WHERE retried_at IS NULL GROUP BY source`.pipe(
    Effect.map((rows) => {
      const counts = Object.fromEntries(quarantineSources.map((source) => [source, 0])) as Record<QuarantineSource, number>
      for (const row of rows) counts[row.source] = row.parked
      return counts
    })
  )

  return QuarantineStore.of({ park, list, markRetried, countBySource })
})

export const layer = Layer.effect(QuarantineStore, make)
