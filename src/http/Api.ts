/** The whole HTTP API, shared by the server, the OpenAPI document and typed clients. */
import * as HttpApi from "@effect/platform/HttpApi"
import * as OpenApi from "@effect/platform/OpenApi"
import { TooManyRequests } from "./errors.js"
import { EventsApi } from "./events/Api.js"
import { InventoryApi } from "./inventory/Api.js"
import { OrdersApi } from "./orders/Api.js"
import { ReadModelsApi } from "./readModels/Api.js"
import { completeDocument } from "./openapi.js"
import { SystemApi } from "./system/Api.js"

export class Api extends HttpApi.make("event-sourced-actors")
  .add(OrdersApi)
  .add(InventoryApi)
  .add(ReadModelsApi)
  .add(EventsApi)
  .add(SystemApi)
  // Every request, public ones too, counts against a rate limit; the other errors are declared by
  // the endpoints that can answer them.
  .addError(TooManyRequests)
  .annotate(OpenApi.Title, "Event-sourced actors")
  .annotate(OpenApi.Transform, completeDocument)
  .annotate(OpenApi.Description, "Commands to per-aggregate actors (orders, inventory); every change is an event in PostgreSQL, and a saga fulfils each confirmed order.")
{}
