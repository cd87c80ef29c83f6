/** The inventory endpoints: a SKU's stock, set by staff, read by anyone signed in. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { InventoryValues } from "../../domain/inventory/index.js"
import { OrderValues } from "../../domain/order/index.js"
import { ConditionalReadHeaders, UpdateHeaders } from "../commands.js"
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
import { Authentication, performs } from "../security.js"

export const StockView = Schema.Struct({
  sku: Schema.String,
  onHand: Schema.Int,
  /** Held for orders not yet shipped or cancelled. */
  reserved: Schema.Int,
  /** onHand - reserved: what new orders can reserve. */
  available: Schema.Int,
  version: Schema.Int
}).annotations({ identifier: "Stock" })

const SkuPath = Schema.Struct({ sku: OrderValues.Sku })

export class InventoryApi extends HttpApiGroup.make("inventory")
  .add(
    HttpApiEndpoint.put("setStock", "/inventory/:sku")
      .setPath(SkuPath)
      .setHeaders(UpdateHeaders)
      .setPayload(Schema.Struct({ onHand: InventoryValues.OnHand }).annotations({
        identifier: "SetStockRequest",
        parseOptions: { onExcessProperty: "error", errors: "all" }
      }))
      .addSuccess(StockView)
      .addError(PreconditionFailed)
      .addError(Conflict)
      .addError(Unprocessable)
      .addError(Unavailable)
      .addError(PayloadTooLarge)
      .addError(UnsupportedMediaType)
      .annotateContext(performs(
        "setStock",
        "Sets the SKU's stock on hand (creating it); refused (422 on-hand-below-reserved) below what orders hold"
      ))
  )
  .add(
    HttpApiEndpoint.get("getStock", "/inventory/:sku")
      .setPath(SkuPath)
      .setHeaders(ConditionalReadHeaders)
      .addSuccess(StockView)
      .addError(NotModified)
      .addError(NotFound)
      .addError(Unavailable)
      .annotateContext(performs("readStock", "The SKU's stock: on hand, reserved by orders, available (with its ETag; If-None-Match with it answers 304)"))
  )
  .middleware(Authentication)
  .addError(BadRequest)
  .annotate(OpenApi.Title, "Inventory")
{}
