/** The read endpoints: order summaries and a customer's orders, from the read models. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { BadRequest, NotFound, NotModified, Unavailable } from "../errors.js"
import { ConditionalReadHeaders } from "../commands.js"
import { IntParam } from "../params.js"
import { Authentication, performs } from "../security.js"

export const OrderSummaryView = Schema.Struct({
  orderId: Schema.String,
  customerId: Schema.String,
  status: Schema.String,
  currency: Schema.String,
  totalCents: Schema.Int,
  itemCount: Schema.Int,
  version: Schema.Int,
  placedAt: Schema.String,
  updatedAt: Schema.String
}).annotations({ identifier: "OrderSummary" })

export class ReadModelsApi extends HttpApiGroup.make("readModels")
  .add(
    HttpApiEndpoint.get("summary", "/orders/:orderId/summary")
      .setPath(Schema.Struct({ orderId: Schema.UUID.annotations({ message: () => "orderId must be a UUID" }) }))
      .setHeaders(ConditionalReadHeaders)
      .setUrlParams(Schema.Struct({
        minVersion: Schema.optional(IntParam("minVersion", 0, 2_147_483_647)),
        waitMs: Schema.optional(IntParam("waitMs", 0, 30_000))
      }))
      .addSuccess(OrderSummaryView)
      .addError(NotModified)
      .addError(NotFound)
      .addError(Unavailable)
      .annotateContext(performs(
        "readSummary",
        "The order's summary from the read model. With minVersion, waits (up to waitMs, default 5000) until the " +
          "read model has reached that version, then answers with what it has; `X-Read-Model-Stale: true` says it had not."
      ))
  )
  .add(
    HttpApiEndpoint.get("customerOrders", "/customers/:customerId/orders")
      .setPath(Schema.Struct({
        customerId: Schema.UUID.annotations({ message: () => "customerId must be a UUID" })
      }))
      .setUrlParams(Schema.Struct({
        limit: Schema.optional(IntParam("limit", 1, 100)),
        /** Opaque: only a nextCursor this API gave is one (any other is 400). */
        cursor: Schema.optional(Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{1,512}$/)).annotations({
          description: "A nextCursor from an earlier page, as it was given (opaque: any other value is refused)"
        }))
      }))
      .addSuccess(Schema.Struct({ orders: Schema.Array(OrderSummaryView), nextCursor: Schema.NullOr(Schema.String) }))
      .addError(Unavailable)
      .annotateContext(performs(
        "listCustomerOrders",
        "A customer's orders, newest first; pass nextCursor back as cursor for the next page"
      ))
  )
  .middleware(Authentication)
  .addError(BadRequest)
  .annotate(OpenApi.Title, "Read models")
{}
