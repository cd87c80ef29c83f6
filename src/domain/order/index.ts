/** The Order aggregate: the first definition registered with the runtime, not a special case of it. */
import type { AggregateDefinition } from "../aggregate.js"
import type { OrderCommand } from "./commands.js"
import { decideOrder } from "./decide.js"
import { type OrderEvent, orderEvents } from "./events.js"
import { notifyOrder } from "./notify.js"
import { evolveOrder, initialOrderState, orderSnapshots, type OrderState } from "./state.js"

export const orderAggregate: AggregateDefinition<OrderState, OrderCommand, OrderEvent> = {
  streamType: "order",
  initialState: initialOrderState,
  decide: decideOrder,
  evolve: evolveOrder,
  events: orderEvents,
  notify: notifyOrder,
  snapshots: { codec: orderSnapshots, every: 50, keep: 2 },
  ownerOf: (state) => state.customerId
}

export { OrderCommand } from "./commands.js"
export type { OrderRule } from "./decide.js"
export { OrderEvent } from "./events.js"
export type { OrderState, OrderStatus } from "./state.js"
export * as OrderValues from "./values.js"
