/** The inventory endpoints: a SKU's stock, set by staff, read by anyone signed in. */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { InventoryValues } from "../../domain/inventory/index.js"
import { OrderValues } from "../../domain/order/index.js"
import { UpdateHeaders } from "../commands.js"
import { BadRequest, Conflict, NotFound, Unavailable, Unprocessable } from "../errors.js"
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
      .addError(Conflict)
      .addError(Unprocessable)
      .addError(Unavailable)
      .annotateContext(performs(
        "setStock",
        "Sets the SKU's stock on hand (creating it); refused (422 on-hand-below-reserved) below what orders hold"
      ))
  )
  .add(
    HttpApiEndpoint.get("getStock", "/inventory/:sku")
      .setPath(SkuPath)
      .addSuccess(StockView)
      .addError(NotFound)
      .addError(Unavailable)
      .annotateContext(performs("readStock", "The SKU's stock: on hand, reserved by orders, available (with its ETag)"))
  )
  .middleware(Authentication)
  .addError(BadRequest)
  .annotate(OpenApi.Title, "Inventory")
{}
