/**
 * The order_summaries read model in PostgreSQL (migrations/0004_order_summaries.sql): loading and
 * writing summaries for the projector and the rebuild, and the queries of the read endpoints.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Context, Effect, Layer, Option } from "effect"
import type { OrderState } from "../domain/order/index.js"
import type { OrderSummary } from "./orderSummary.js"

export const LIVE_TABLE = "order_summaries"

/** A place in the per-customer list: the last row of the page before. */
export interface CustomerCursor {
  readonly placedAt: string
  readonly orderId: string
}

export interface OrderSummariesShape {
  readonly load: (orderIds: ReadonlyArray<string>, table?: string) => Effect.Effect<Map<string, OrderSummary>, SqlError.SqlError>
  /** Writes the summaries; a row already at a higher version is left alone. */
  readonly save: (summaries: ReadonlyArray<OrderSummary>, table?: string) => Effect.Effect<void, SqlError.SqlError>
  /**
   * Inside a transaction: takes the table's write lock. A batch that takes it before reading its
   * rows waits out a rebuild's swap, then reads — and writes — the table that was swapped in.
   */
  readonly lockForWrite: (table?: string) => Effect.Effect<void, SqlError.SqlError>
  readonly find: (orderId: string) => Effect.Effect<Option.Option<OrderSummary>, SqlError.SqlError>
  /** A customer's orders, newest first, `limit` at most, after `cursor`. */
  readonly byCustomer: (
    customerId: string,
    limit: number,
    cursor: CustomerCursor | undefined
  ) => Effect.Effect<ReadonlyArray<OrderSummary>, SqlError.SqlError>
}

export class OrderSummaries extends Context.Tag("app/OrderSummaries")<OrderSummaries, OrderSummariesShape>() {}

interface Row {
  readonly order_id: string
  readonly customer_id: string
  readonly status: string
  readonly currency: string
  readonly total_cents: number
  readonly item_count: number
  readonly last_version: number
  readonly placed_at: Date
  readonly updated_at: Date
  readonly state: OrderState
}

const toSummary = (row: Row): OrderSummary => ({
  orderId: row.order_id,
  customerId: row.customer_id,
  status: row.status,
  currency: row.currency,
  totalCents: row.total_cents,
  itemCount: row.item_count,
  lastVersion: row.last_version,
  placedAt: row.placed_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  state: row.state
})

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const columns = sql`order_id, customer_id, status, currency, total_cents, item_count, last_version, placed_at, updated_at, state`

  const load: OrderSummariesShape["load"] = (orderIds, table = LIVE_TABLE) =>
    orderIds.length === 0
      ? Effect.succeed(new Map())
      : sql<Row>`SELECT ${columns} FROM ${sql(table)} WHERE order_id IN ${sql.in(orderIds)}`.pipe(
        Effect.map((rows) => new Map(rows.map((row) => [row.order_id, toSummary(row)])))
      )

  const save: OrderSummariesShape["save"] = (summaries, table = LIVE_TABLE) =>
    summaries.length === 0 ? Effect.void : sql`
      INSERT INTO ${sql(table)} (order_id, customer_id, status, currency, total_cents, item_count, last_version,
        placed_at, updated_at, state)
      SELECT order_id, customer_id, status, currency, total_cents, item_count, last_version, placed_at, updated_at, state
      FROM jsonb_to_recordset(${JSON.stringify(summaries.map((summary) => ({
      order_id: summary.orderId,
      customer_id: summary.customerId,
      status: summary.status,
      currency: summary.currency,
      total_cents: summary.totalCents,
      item_count: summary.itemCount,
      last_version: summary.lastVersion,
      placed_at: summary.placedAt,
      updated_at: summary.updatedAt,
      state: summary.state
    })))}::jsonb) AS t(order_id text, customer_id text, status text, currency text, total_cents bigint,
        item_count integer, last_version integer, placed_at timestamptz, updated_at timestamptz, state jsonb)
      ON CONFLICT (order_id) DO UPDATE SET
        customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, currency = EXCLUDED.currency,
        total_cents = EXCLUDED.total_cents, item_count = EXCLUDED.item_count, last_version = EXCLUDED.last_version,
        placed_at = EXCLUDED.placed_at, updated_at = EXCLUDED.updated_at, state = EXCLUDED.state, projected_at = now()
      WHERE ${sql(table)}.last_version < EXCLUDED.last_version`.pipe(Effect.asVoid)

  const lockForWrite: OrderSummariesShape["lockForWrite"] = (table = LIVE_TABLE) =>
    Effect.asVoid(sql`LOCK TABLE ${sql(table)} IN ROW EXCLUSIVE MODE`)

  const find: OrderSummariesShape["find"] = (orderId) =>
    sql<Row>`SELECT ${columns} FROM order_summaries WHERE order_id = ${orderId}`.pipe(
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toSummary))
    )

  const byCustomer: OrderSummariesShape["byCustomer"] = (customerId, limit, cursor) =>
    (cursor === undefined
      ? sql<Row>`SELECT ${columns} FROM order_summaries WHERE customer_id = ${customerId}
          ORDER BY placed_at DESC, order_id DESC LIMIT ${limit}`
      : sql<Row>`SELECT ${columns} FROM order_summaries WHERE customer_id = ${customerId}
          AND (placed_at, order_id) < (${cursor.placedAt}::timestamptz, ${cursor.orderId})
          ORDER BY placed_at DESC, order_id DESC LIMIT ${limit}`).pipe(Effect.map((rows) => rows.map(toSummary)))

  return OrderSummaries.of({ load, save, lockForWrite, find, byCustomer })
})

export const layer = Layer.effect(OrderSummaries, make)
