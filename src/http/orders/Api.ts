/** The orders endpoints: request and response schemas, statuses, and the errors each can answer. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import type { Action } from "../../auth/policy.js"
import { OrderValues } from "../../domain/order/index.js"
import { ConditionalReadHeaders, CreateHeaders, UpdateHeaders } from "../commands.js"
import {
  BadRequest,
  Conflict,
  NotFound,
  NotModified,
  PayloadTooLarge,
  PreconditionFailed,
  Unavailable,
  UnsupportedMediaType,
  Unprocessable
} from "../errors.js"
import { IntParam } from "../params.js"
import { Authentication, performs } from "../security.js"

/** Request bodies refuse unknown fields and report every problem, not just the first. */
const Body = <Fields extends Schema.Struct.Fields>(identifier: string, fields: Fields) =>
  Schema.Struct(fields).annotations({
    identifier,
    parseOptions: { onExcessProperty: "error", errors: "all" }
  })

export const PlaceOrderBody = Body("PlaceOrderRequest", {
  customerId: OrderValues.CustomerId,
  lines: Schema.Array(OrderValues.OrderLine).pipe(
    Schema.minItems(1, { message: () => "lines must hold at least one line" }),
    Schema.maxItems(OrderValues.MAX_LINES, { message: () => `lines may hold at most ${OrderValues.MAX_LINES} lines` })
  ),
  currency: OrderValues.Currency
})

export const AddItemBody = Body("AddItemRequest", {
  sku: OrderValues.Sku,
  quantity: OrderValues.Quantity,
  unitPriceCents: OrderValues.UnitPriceCents
})

export const PayBody = Body("PayRequest", {
  amountCents: OrderValues.AmountCents,
  method: OrderValues.NonEmptyText("method", 64)
})

export const ShipBody = Body("ShipRequest", {
  carrier: OrderValues.NonEmptyText("carrier", 64),
  trackingNumber: OrderValues.NonEmptyText("trackingNumber", 128)
})

export const CancelBody = Body("CancelRequest", {
  reason: OrderValues.NonEmptyText("reason", 500)
})

/** A stream's versions fit PostgreSQL's integer. */
export const MAX_VERSION = 2_147_483_647
export const DEFAULT_TIMELINE_PAGE = 100
export const MAX_TIMELINE_PAGE = 1000

/**
 * An ISO-8601 moment with its offset (seconds and fractions optional). Every text the pattern allows
 * is a real moment, so the pattern is the whole rule.
 */
const Instant = Schema.String.pipe(
  Schema.pattern(
    /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/,
    { message: () => "at must be an ISO-8601 timestamp with its offset, such as 2026-05-06T07:08:09Z" }
  )
)

const OrderId = Schema.UUID.annotations({ message: () => "orderId must be a UUID" })
const OrderPath = Schema.Struct({ orderId: OrderId })

export const CommandAccepted = Schema.Struct({
  orderId: Schema.String,
  version: Schema.Int
}).annotations({ identifier: "CommandAccepted" })

export const OrderView = Schema.Struct({
  orderId: Schema.String,
  customerId: Schema.String,
  status: Schema.Literal("placed", "confirmed", "paymentPending", "paid", "shipped", "delivered", "cancelled"),
  lines: Schema.Array(OrderValues.OrderLine),
  totalCents: Schema.Int,
  currency: Schema.String,
  version: Schema.Int,
  /** The last payment attempt's refusal, until a payment succeeds: the order may be paid again. */
  lastDecline: Schema.NullOr(Schema.Struct({ attempt: Schema.Int, reason: Schema.String })),
  refundedCents: Schema.NullOr(Schema.Int),
  shipment: Schema.NullOr(Schema.Struct({ carrier: Schema.String, trackingNumber: Schema.String })),
  cancelReason: Schema.NullOr(Schema.String)
}).annotations({ identifier: "Order" })

export const TimelineEntry = Schema.Struct({
  version: Schema.Int,
  type: Schema.String,
  schemaVersion: Schema.Int,
  data: Schema.Unknown,
  metadata: Schema.Unknown,
  recordedAt: Schema.String,
  globalPosition: Schema.Int
}).annotations({ identifier: "TimelineEntry" })

export const FulfilmentStepView = Schema.Struct({
  step: Schema.String,
  kind: Schema.String,
  input: Schema.Unknown,
  status: Schema.Literal("scheduled", "succeeded", "parked"),
  /** Failed attempts (each retried after a backoff; a parked step waits for an operator). */
  attempts: Schema.Int,
  /** It undoes an earlier step. */
  compensation: Schema.Boolean,
  scheduledAt: Schema.String,
  finishedAt: Schema.NullOr(Schema.String),
  lastError: Schema.NullOr(Schema.String),
  output: Schema.Unknown
}).annotations({ identifier: "FulfilmentStep" })

export const FulfilmentView = Schema.Struct({
  orderId: Schema.String,
  /** The version of the saga's definition it runs (it keeps it until it finishes). */
  definitionVersion: Schema.Int,
  status: Schema.Literal("running", "finished"),
  /** `fulfilled` or `cancelled` once finished. */
  outcome: Schema.NullOr(Schema.String),
  phase: Schema.String,
  cancelReason: Schema.NullOr(Schema.String),
  compensating: Schema.Boolean,
  startedAt: Schema.String,
  finishedAt: Schema.NullOr(Schema.String),
  version: Schema.Int,
  steps: Schema.Array(FulfilmentStepView),
  timers: Schema.Array(Schema.Struct({ timer: Schema.String, dueAt: Schema.String }))
}).annotations({ identifier: "Fulfilment" })

const update = <Name extends string>(
  name: Name,
  path: `/${string}`,
  action: Action,
  description: string,
  status: 200 | 202 = 200
) =>
  HttpApiEndpoint.post(name, path)
    .annotateContext(performs(action, description))
    .setPath(OrderPath)
    .setHeaders(UpdateHeaders)
    .addSuccess(CommandAccepted, { status })
    .addError(NotFound)
    .addError(PreconditionFailed)
    .addError(Conflict)
    .addError(Unprocessable)
    .addError(Unavailable)
    .addError(PayloadTooLarge)
    .addError(UnsupportedMediaType)

export class OrdersApi extends HttpApiGroup.make("orders")
  .add(
    HttpApiEndpoint.post("place", "/orders")
      .setHeaders(CreateHeaders)
      .setPayload(PlaceOrderBody)
      .addSuccess(CommandAccepted, { status: 201 })
      .addError(Conflict)
      .addError(Unprocessable)
      .addError(Unavailable)
      .addError(PayloadTooLarge)
      .addError(UnsupportedMediaType)
      .annotateContext(performs(
        "placeOrder",
        "Places an order for `customerId` (a customer: for themselves). With an Idempotency-Key, a retry returns the first answer."
      ))
  )
  .add(update("addItem", "/orders/:orderId/items", "addItem", "Adds a line, or more of a SKU already ordered").setPayload(AddItemBody))
  .add(
    HttpApiEndpoint.del("removeItem", "/orders/:orderId/items/:sku")
      .annotateContext(performs("removeItem", "Removes a SKU's line"))
      .setPath(Schema.Struct({ orderId: OrderId, sku: OrderValues.Sku }))
      .setHeaders(UpdateHeaders)
      .addSuccess(CommandAccepted)
      .addError(NotFound)
      .addError(PreconditionFailed)
      .addError(Conflict)
      .addError(Unprocessable)
      .addError(Unavailable)
      .addError(PayloadTooLarge)
      .addError(UnsupportedMediaType)
  )
  .add(update("confirm", "/orders/:orderId/confirm", "confirm", "Confirms the order's lines"))
  .add(
    update(
      "pay",
      "/orders/:orderId/pay",
      "pay",
      "Asks to pay a confirmed order: accepted (202) as `paymentPending`; the fulfilment saga takes it to the payment provider, and the order becomes `paid`, or `confirmed` again with `lastDecline`",
      202
    ).setPayload(PayBody)
  )
  .add(update("ship", "/orders/:orderId/ship", "ship", "Records the shipment of a paid order").setPayload(ShipBody))
  .add(update("deliver", "/orders/:orderId/deliver", "deliver", "Records the delivery of a shipped order"))
  .add(update("cancel", "/orders/:orderId/cancel", "cancel", "Cancels the order, with a reason").setPayload(CancelBody))
  .add(
    HttpApiEndpoint.get("get", "/orders/:orderId")
      .setPath(OrderPath)
      .setHeaders(ConditionalReadHeaders)
      .setUrlParams(Schema.Struct({
        atVersion: Schema.optional(IntParam("atVersion", 1, MAX_VERSION)),
        at: Schema.optional(Instant)
      }))
      .addSuccess(OrderView)
      .addError(NotModified)
      .addError(NotFound)
      .addError(Unavailable)
      .annotateContext(performs(
        "readOrder",
        "The order now (with its ETag; If-None-Match with it answers 304), or as it was: ?atVersion=N after its N-th " +
          "event, ?at=<ISO timestamp> at that moment; with both, at whichever came first"
      ))
  )
  .add(
    HttpApiEndpoint.get("events", "/orders/:orderId/events")
      .setPath(OrderPath)
      .setUrlParams(Schema.Struct({
        afterVersion: Schema.optional(IntParam("afterVersion", 0, MAX_VERSION)),
        limit: Schema.optional(IntParam("limit", 1, MAX_TIMELINE_PAGE))
      }))
      .addSuccess(Schema.Array(TimelineEntry))
      .addError(NotFound)
      .addError(Unavailable)
      .annotateContext(performs(
        "readHistory",
        `The order's history, oldest first, as stored, with who did what: the events after ?afterVersion (default 0), ` +
          `at most ?limit (default ${DEFAULT_TIMELINE_PAGE}, at most ${MAX_TIMELINE_PAGE}). While more follow, a ` +
          "`Link: <…>; rel=\"next\"` header gives the next page"
      ))
  )
  .add(
    HttpApiEndpoint.get("fulfilment", "/orders/:orderId/fulfilment")
      .setPath(OrderPath)
      .addSuccess(FulfilmentView)
      .addError(NotFound)
      .addError(Unavailable)
      .annotateContext(performs(
        "readFulfilment",
        "The order's fulfilment saga: its phase, each step with its time, outcome and attempts, any compensation, its timers"
      ))
  )
  .middleware(Authentication)
  .addError(BadRequest)
  .annotate(OpenApi.Title, "Orders")
{}

