/** Handlers of the read endpoints. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, Effect, Option } from "effect"
import { OrderSummaries, type CustomerCursor } from "../../projections/OrderSummaries.js"
import type { OrderSummary } from "../../projections/orderSummary.js"
import { StoreUnavailable } from "../../runtime/errors.js"
import { Api } from "../Api.js"
import { answerWithEtag } from "../commands.js"
import { BadRequest, Forbidden, NotFound, toHttpError } from "../errors.js"
import { Caller } from "../security.js"

const DEFAULT_WAIT_MS = 5_000

const view = (summary: OrderSummary) => ({
  orderId: summary.orderId,
  customerId: summary.customerId,
  status: summary.status,
  currency: summary.currency,
  totalCents: summary.totalCents,
  itemCount: summary.itemCount,
  version: summary.lastVersion,
  placedAt: summary.placedAt,
  updatedAt: summary.updatedAt
})

const setHeader = (name: string, value: string) =>
  HttpApp.appendPreResponseHandler((_request, response) => Effect.succeed(HttpServerResponse.setHeader(response, name, value)))

const encodeCursor = (cursor: CustomerCursor) => Buffer.from(JSON.stringify([cursor.placedAt, cursor.orderId])).toString("base64url")

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

const decodeCursor = (text: string): Option.Option<CustomerCursor> => {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
    // Only what encodeCursor writes: a timestamp in toISOString's exact form, which the database reads.
    if (
      Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && typeof value[1] === "string" &&
      ISO_INSTANT.test(value[0]) && !Number.isNaN(Date.parse(value[0])) && new Date(value[0]).toISOString() === value[0]
    ) {
      return Option.some({ placedAt: value[0], orderId: value[1] })
    }
  } catch {
    // not one of ours
  }
  return Option.none()
}

const unavailable = (error: { readonly message: string }) =>
  toHttpError("order", new StoreUnavailable({ message: `read model failed: ${error.message}` }))

export const ReadModelsHttpLive = HttpApiBuilder.group(Api, "readModels", (handlers) =>
  Effect.gen(function*() {
    const summaries = yield* OrderSummaries

    return handlers
      .handle("summary", ({ headers, path, urlParams }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          // Another customer's order is treated as one not (yet) in the read model, waits included.
          const find = summaries.find(path.orderId).pipe(
            Effect.map(Option.filter((summary) => Caller.covers(caller, summary.customerId))),
            Effect.mapError(unavailable)
          )
          const wanted = urlParams.minVersion
          const caughtUp = (current: Option.Option<OrderSummary>) =>
            wanted === undefined || (Option.isSome(current) && current.value.lastVersion >= wanted)
          // Read-your-writes: look again until the projection has caught up, or the wait is over; soon at
          // first (the projection is usually milliseconds behind), then less and less often.
          const deadline = (yield* Clock.currentTimeMillis) + (urlParams.waitMs ?? DEFAULT_WAIT_MS)
          let found = yield* find
          let pause = 20
          while (!caughtUp(found)) {
            const left = deadline - (yield* Clock.currentTimeMillis)
            if (left <= 0) break
            yield* Effect.sleep(Math.min(pause, left))
            pause = Math.min(pause * 2, 500)
            found = yield* find
          }
          const stale = !caughtUp(found)
          if (stale) yield* setHeader("x-read-model-stale", "true")
          if (Option.isNone(found)) {
            return yield* Effect.fail(
              new NotFound({
                error: "not_found",
                message: `order ${path.orderId} is not in the read model${stale ? ` (yet: waited for version ${wanted})` : ""}`
              })
            )
          }
          yield* answerWithEtag(found.value.lastVersion, headers["if-none-match"])
          return view(found.value)
        }))
      .handle("customerOrders", ({ path, urlParams }) =>
        Effect.gen(function*() {
          if (!Caller.covers(yield* Caller, path.customerId)) {
            return yield* Effect.fail(new Forbidden({ error: "forbidden", message: "a customer lists only their own orders" }))
          }
          const limit = urlParams.limit ?? 20
          let cursor: CustomerCursor | undefined
          if (urlParams.cursor !== undefined) {
            const decoded = decodeCursor(urlParams.cursor)
            if (Option.isNone(decoded)) {
              return yield* Effect.fail(
                new BadRequest({ error: "bad_request", field: "cursor", message: "cursor must be a nextCursor this API gave" })
              )
            }
            cursor = decoded.value
          }
          const page = yield* summaries.byCustomer(path.customerId, limit + 1, cursor).pipe(Effect.mapError(unavailable))
          const orders = page.slice(0, limit)
          const last = orders.at(-1)
          return {
            orders: orders.map(view),
            nextCursor: page.length > limit && last !== undefined ? encodeCursor({ placedAt: last.placedAt, orderId: last.orderId }) : null
          }
        }))
  }))
