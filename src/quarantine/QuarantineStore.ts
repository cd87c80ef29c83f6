/**
 * The quarantine: what can never be processed, parked with the reason so that the stream it blocked
 * moves on, counted, listed and retried by an operator (tables in migrations/0008_quarantine.sql).
 * Nothing is dropped in silence: a parked row stays until it is retried.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Context, type Duration, Effect, Layer, Metric, Schedule } from "effect"

/** The relay's: an outbox row a destination will never take. */
export const outboxSources = ["outbox:events", "outbox:notifications"] as const
export type OutboxSource = typeof outboxSources[number]

/**
 * Where an entry was stopped: an outbox destination, or a projection's consumer (`projector:<name>`,
 * for each registered projection).
 */
export type QuarantineSource = OutboxSource | `projector:${string}`

/** The source of what a projection's consumer parks. */
export const projectorSource = (projection: string): QuarantineSource => `projector:${projection}`

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
  /**
   * Parked entries not yet retried, by source: every outbox source, and every other source that ever
   * parked anything (0 for one with none waiting).
   */
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
        Effect.forEach(Object.entries(counts), ([source, parked]) => Metric.set(Metric.tagged(parkedRows, "source", source), parked))
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

  // Over retried entries too: a source whose entries were all retried counts 0 (its gauge goes back
  // to 0) rather than vanishing. Projections' sources are not listed here (the quarantine does not
  // know the registry): each appears with the first entry it parks.
  const countBySource: QuarantineStoreShape["countBySource"] = sql<{ source: QuarantineSource; parked: number }>`
    SELECT source, (count(*) FILTER (WHERE retried_at IS NULL))::int AS parked FROM quarantine GROUP BY source`.pipe(
    Effect.map((rows) => {
      const counts = Object.fromEntries(outboxSources.map((source) => [source, 0])) as Record<QuarantineSource, number>
      for (const row of rows) counts[row.source] = row.parked
      return counts
    })
  )

  return QuarantineStore.of({ park, list, markRetried, countBySource })
})

export const layer = Layer.effect(QuarantineStore, make)
