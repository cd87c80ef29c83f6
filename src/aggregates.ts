/**
 * The aggregates this application runs. Adding one is a definition under src/domain and one line
 * here: a tag for its actor system, and its layer in `AggregatesLive`. A process's sagas are an
 * aggregate too (src/processes/saga.ts), registered the same way.
 */
import { Context, Effect, Layer } from "effect"
import * as AggregateRouter from "./cluster/AggregateRouter.js"
import { AppConfig } from "./config.js"
import { inventoryAggregate, type InventoryCommand, type InventoryEvent, type InventoryState } from "./domain/inventory/index.js"
import { orderAggregate, type OrderCommand, type OrderEvent, type OrderState } from "./domain/order/index.js"
import { paymentAggregate, type PaymentCommand, type PaymentEvent, type PaymentState } from "./domain/payment/index.js"
import { fulfilmentDefinitions, type FulfilmentState } from "./processes/fulfilment/index.js"
import { sagaAggregate, type SagaCommand, type SagaEvent, type SagaState } from "./processes/saga.js"
import type * as ActorSystem from "./runtime/ActorSystem.js"

export class OrderActors extends Context.Tag("app/OrderActors")<
  OrderActors,
  ActorSystem.ActorSystem<OrderState, OrderCommand, OrderEvent>
>() {}

export class InventoryActors extends Context.Tag("app/InventoryActors")<
  InventoryActors,
  ActorSystem.ActorSystem<InventoryState, InventoryCommand, InventoryEvent>
>() {}

export class PaymentActors extends Context.Tag("app/PaymentActors")<
  PaymentActors,
  ActorSystem.ActorSystem<PaymentState, PaymentCommand, PaymentEvent>
>() {}

export class FulfilmentSagas extends Context.Tag("app/FulfilmentSagas")<
  FulfilmentSagas,
  ActorSystem.ActorSystem<SagaState<FulfilmentState>, SagaCommand, SagaEvent>
>() {}

/** Every registered definition: topics and notification bindings are made for each. */
export const aggregates = [orderAggregate, inventoryAggregate, paymentAggregate] as const

/** The processes, by the stream type of their sagas. */
export const processes = ["fulfilment"] as const

export const streamTypes: ReadonlyArray<string> = [...aggregates.map((definition) => definition.streamType), ...processes]

export const AggregatesLive = Layer.mergeAll(
  AggregateRouter.layer(OrderActors, orderAggregate),
  AggregateRouter.layer(InventoryActors, inventoryAggregate),
  AggregateRouter.layer(PaymentActors, paymentAggregate),
  Layer.unwrapEffect(Effect.map(AppConfig, (config) => AggregateRouter.layer(FulfilmentSagas, sagaAggregate(fulfilmentDefinitions(config)))))
)
