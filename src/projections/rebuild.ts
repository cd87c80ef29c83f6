/**
 * Rebuilding a read model without downtime: replay the event store — the source of truth — into a
 * new table, in commit order; then, holding off the projector's writes (readers go on), catch up
 * with what was appended meanwhile and swap the new table in by renaming, atomically. Queries read
 * the old table until the swap. The projector carries on afterwards from its Kafka offsets; the
 * versions in the new table make whatever it sees again harmless.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { checkCommitOrder } from "../eventstore/commitOrderGuard.js"
import { EventStore } from "../eventstore/EventStore.js"
import { LIVE_TABLE } from "./OrderSummaries.js"
import { fromRecorded, projectEvents } from "./projectEvents.js"

export const rebuildable = ["order_summaries"] as const
export type RebuildableModel = (typeof rebuildable)[number]

export interface RebuildProgress {
  readonly done: number
  readonly total: number
}

const PAGE = 5_000

export const rebuildOrderSummaries = (onProgress: (progress: RebuildProgress) => void = () => undefined) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore
    // The replay walks commit order: in a moved database it would find nothing, and swap in an empty table.
    yield* checkCommitOrder
    const building = `${LIVE_TABLE}_rebuild`
    yield* sql`DROP TABLE IF EXISTS ${sql(building)}`
    yield* sql`CREATE TABLE ${sql(building)} (LIKE ${sql(LIVE_TABLE)} INCLUDING ALL)`
    const counted = yield* sql<{ total: number }>`SELECT count(*)::int AS total FROM events WHERE stream_type = 'order'`
    const total = counted[0]?.total ?? 0
    let after = 0
    let done = 0

    /** Replays everything visible after `after` into the new table. */
    const replay = Effect.gen(function*() {
      for (;;) {
        const page = yield* store.readAll({ afterPosition: after, limit: PAGE })
        if (page.length === 0) return
        yield* projectEvents(page.filter((event) => event.streamType === "order").map(fromRecorded), building)
        after = page[page.length - 1]!.globalPosition
        done += page.length
        onProgress({ done, total: Math.max(total, done) })
      }
    })

    yield* replay
    yield* sql.withTransaction(Effect.gen(function*() {
      // Writers (the projector) wait from here to the commit; readers keep reading the old table.
      yield* sql`LOCK TABLE ${sql(LIVE_TABLE)} IN SHARE ROW EXCLUSIVE MODE`
      yield* replay
      yield* sql`ALTER TABLE ${sql(LIVE_TABLE)} RENAME TO ${sql(`${LIVE_TABLE}_old`)}`
      yield* sql`ALTER TABLE ${sql(building)} RENAME TO ${sql(LIVE_TABLE)}`
      yield* sql`DROP TABLE ${sql(`${LIVE_TABLE}_old`)}`
      // The copied indexes carry the new table's first name; give them the live one.
      const indexes = yield* sql<{ name: string }>`
        SELECT indexname AS name FROM pg_indexes WHERE tablename = ${LIVE_TABLE} AND indexname LIKE ${`${building}%`}`
      for (const { name } of indexes) {
        yield* sql`ALTER INDEX ${sql(name)} RENAME TO ${sql(name.replace(building, LIVE_TABLE))}`
      }
    }))
    onProgress({ done, total: done })
    return { events: done }
  }).pipe(Effect.withSpan("Projections.rebuild", { attributes: { model: "order_summaries" } }))
