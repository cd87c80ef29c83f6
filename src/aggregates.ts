/**
 * The aggregates this application runs. Adding one is a definition under src/domain and one line
 * here: a tag for its actor system, and its layer in `AggregatesLive`.
 */
import { Context, Layer } from "effect"
import { orderAggregate, type OrderCommand, type OrderEvent, type OrderState } from "./domain/order/index.js"
import * as AggregateRouter from "./cluster/AggregateRouter.js"
import type * as ActorSystem from "./runtime/ActorSystem.js"

export class OrderActors extends Context.Tag("app/OrderActors")<
  OrderActors,
  ActorSystem.ActorSystem<OrderState, OrderCommand, OrderEvent>
>() {}

/** Every registered definition: topics and notification bindings are made for each. */
export const aggregates = [orderAggregate] as const

export const streamTypes: ReadonlyArray<string> = aggregates.map((definition) => definition.streamType)

export const AggregatesLive = Layer.mergeAll(
  AggregateRouter.layer(OrderActors, orderAggregate)
)
