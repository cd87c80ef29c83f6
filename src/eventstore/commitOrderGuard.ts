/**
 * The commit order of the log — (transaction id, position) — is only valid inside the physical
 * cluster that assigned the transaction ids. After a dump and restore, or a logical-replication
 * move, stored rows keep the old cluster's ids, which can be far above the new cluster's: every new
 * event would sort before the relay's cursor and never be relayed, silently. This guard finds such
 * ids at start-up and refuses to go on, saying what to do (README, "Moving the database").
 */
import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"

export class ForeignCommitOrder extends Data.TaggedError("ForeignCommitOrder")<{
  readonly highestStored: string
  readonly current: string
}> {
  override get message() {
    return `stored transaction ids (up to ${this.highestStored}) are ahead of this database's (${this.current}): ` +
      "it was moved by dump/restore or logical replication, and the relay would skip every new event. " +
      "Stop every process, re-base the commit order as the README's \"Moving the database\" says, then start again"
  }
}

export const checkCommitOrder = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ highest: string | null; current: string }>`
    SELECT greatest(
        (SELECT max(transaction_id) FROM events),
        (SELECT max(transaction_id) FROM outbox),
        (SELECT max(transaction_id) FROM outbox_cursors)
      )::text AS highest,
      pg_current_xact_id()::text AS current`
  if (row !== undefined && row.highest !== null && BigInt(row.highest) > BigInt(row.current)) {
    return yield* new ForeignCommitOrder({ highestStored: row.highest, current: row.current })
  }
})
