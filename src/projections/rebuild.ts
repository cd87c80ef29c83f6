/**
 * Rebuilding a read model's table without downtime: replay the event store — the source of truth —
 * into a new table, in commit order; then, holding off the projector's writes (readers go on), catch
 * up with what was appended meanwhile and swap the new table in by renaming, atomically. Queries read
 * the old table until the swap. The projector carries on afterwards from its Kafka offsets; the
 * versions in the new table make whatever it sees again harmless.
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import { checkCommitOrder } from "../eventstore/commitOrderGuard.js"
import { EventStore, type RecordedEvent } from "../eventstore/EventStore.js"
import { LIVE_TABLE } from "./OrderSummaries.js"
import type { RebuildProgress } from "./projection.js"
import { fromRecorded, orderSummaryStreamTypes, projectEvents } from "./projectEvents.js"

export type { RebuildProgress } from "./projection.js"

/** A read model kept in one table, as the rebuild needs to know it. */
export interface RebuildableTable<E, R> {
  /** The live table: read by the queries, written by the projector. */
  readonly table: string
  /** The stream types whose events it is folded from. */
  readonly streamTypes: ReadonlyArray<string>
  /**
   * Applies stored events, in commit order, to `table` (the new one being built), as the projector
   * applies them to the live one. The projector's own writes must lock the live table (ROW EXCLUSIVE,
   * in their transaction, before they read it): that is what holds them off during the swap.
   */
  readonly project: (events: ReadonlyArray<RecordedEvent>, table: string) => Effect.Effect<unknown, E, R>
}

const PAGE = 5_000

export const rebuildTable = <E, R>(model: RebuildableTable<E, R>, onProgress: (progress: RebuildProgress) => void = () => undefined) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore
    const live = model.table
    // The replay walks commit order: in a moved database it would find nothing, and swap in an empty table.
    yield* checkCommitOrder
    const building = `${live}_rebuild`
    yield* sql`DROP TABLE IF EXISTS ${sql(building)}`
    yield* sql`CREATE TABLE ${sql(building)} (LIKE ${sql(live)} INCLUDING ALL)`
    const counted = yield* sql<{ total: number }>`
      SELECT count(*)::int AS total FROM events WHERE stream_type IN ${sql.in(model.streamTypes)}`
    const total = counted[0]?.total ?? 0
    let after = 0
    let done = 0

    /** Replays everything visible after `after` into the new table. */
    const replay = Effect.gen(function*() {
      for (;;) {
        const page = yield* store.readAll({ afterPosition: after, limit: PAGE })
        if (page.length === 0) return
        yield* model.project(page.filter((event) => model.streamTypes.includes(event.streamType)), building)
        after = page[page.length - 1]!.globalPosition
        done += page.length
        onProgress({ done, total: Math.max(total, done) })
      }
    })

    yield* replay
    yield* sql.withTransaction(Effect.gen(function*() {
      // Writers (the projector) wait from here to the commit; readers keep reading the old table.
      yield* sql`LOCK TABLE ${sql(live)} IN SHARE ROW EXCLUSIVE MODE`
      yield* replay
      yield* sql`ALTER TABLE ${sql(live)} RENAME TO ${sql(`${live}_old`)}`
      yield* sql`ALTER TABLE ${sql(building)} RENAME TO ${sql(live)}`
      yield* sql`DROP TABLE ${sql(`${live}_old`)}`
      // The copied indexes carry the new table's first name; give them the live one.
      const indexes = yield* sql<{ name: string }>`
        SELECT indexname AS name FROM pg_indexes WHERE tablename = ${live} AND indexname LIKE ${`${building}%`}`
      for (const { name } of indexes) {
        yield* sql`ALTER INDEX ${sql(name)} RENAME TO ${sql(name.replace(building, live))}`
      }
    }))
    onProgress({ done, total: done })
    return { events: done }
  }).pipe(Effect.withSpan("Projections.rebuild", { attributes: { model: model.table } }))

/** The order summaries, rebuilt. */
export const rebuildOrderSummaries = (onProgress?: (progress: RebuildProgress) => void) =>
  rebuildTable({
    table: LIVE_TABLE,
    streamTypes: orderSummaryStreamTypes,
    project: (events, table) => projectEvents(events.map(fromRecorded), table)
  }, onProgress)
