/**
 * The order summary read model, as a pure fold: a summary is the order's state (folded with the
 * domain's own `evolve`, so the read model can never disagree with the aggregate) plus the columns a
 * "my orders" screen reads. Events arrive as stored envelopes; older schema versions are upcast by
 * the domain's catalogue on the way in.
 */
import { Either } from "effect"
import { orderAggregate, type OrderState } from "../domain/order/index.js"

export interface StoredEventRef {
  readonly streamId: string
  readonly version: number
  readonly type: string
  readonly schemaVersion: number
  readonly data: unknown
  readonly recordedAt: string
}

export interface OrderSummary {
  readonly orderId: string
  readonly customerId: string
  readonly status: string
  readonly currency: string
  readonly totalCents: number
  readonly itemCount: number
  readonly lastVersion: number
  readonly placedAt: string
  readonly updatedAt: string
  readonly state: OrderState
}

/**
 * The summary after `event`, which must be the next version (lastVersion + 1; 1 for a new order).
 * Fails, saying why, when the event cannot be read or is not the next one.
 */
export const applyToSummary = (summary: OrderSummary | undefined, event: StoredEventRef): Either.Either<OrderSummary, string> => {
  const lastVersion = summary?.lastVersion ?? 0
  if (event.version !== lastVersion + 1) {
    return Either.left(`order ${event.streamId}: version ${event.version} does not follow ${lastVersion}`)
  }
  return Either.flatMap(
    Either.mapLeft(orderAggregate.events.decode(event), (error) => `order ${event.streamId} v${event.version}: ${error.reason}`),
    (decoded) => {
      const state = orderAggregate.evolve(summary?.state ?? orderAggregate.initialState, decoded)
      const placedAt = decoded._tag === "OrderPlaced" ? decoded.placedAt : summary?.placedAt
      if (placedAt === undefined || state.customerId === null || state.currency === null) {
        return Either.left(`order ${event.streamId}: v${event.version} ${event.type} before the order was placed`)
      }
      return Either.right({
        orderId: event.streamId,
        customerId: state.customerId,
        status: state.status,
        currency: state.currency,
        totalCents: state.totalCents,
        itemCount: state.lines.reduce((sum, line) => sum + line.quantity, 0),
        lastVersion: event.version,
        placedAt,
        updatedAt: event.recordedAt,
        state
      })
    }
  )
}
