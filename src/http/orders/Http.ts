/** Handlers of the orders endpoints: turn requests into commands for the order actors. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { FulfilmentSagas, OrderActors } from "../../aggregates.js"
import { streamIdOf } from "../../domain/aggregate.js"
import { OrderCommand, orderAggregate, type OrderState } from "../../domain/order/index.js"
import { fulfilmentView } from "../../processes/fulfilment/view.js"
import { EventStore } from "../../eventstore/EventStore.js"
import { StoreUnavailable } from "../../runtime/errors.js"
import { type PointInTime, stateAt } from "../../runtime/timeTravel.js"
import { Api } from "../Api.js"
import { DEFAULT_TIMELINE_PAGE } from "./Api.js"
import { answerWithEtag, callerScope, cannotFailWith, type CommandHeaders, sendCommand, setHeader } from "../commands.js"
import { Forbidden, NotFound, PreconditionFailed, toHttpError } from "../errors.js"
import { Caller, type CallerShape } from "../security.js"

/**
 * With an Idempotency-Key, the new order's id is derived from the caller and the key (a name-based,
 * version-5 style UUID), so that a retry reaches the same order's actor and gets the first answer
 * back, and another caller's same key another order.
 */
const orderIdForKey = (scope: string, key: string) => {
  const hex = createHash("sha1").update(`orders:${scope}:${key}`).digest("hex")
  const variant = ((parseInt(hex.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(18, 20)}-${hex.slice(20, 32)}`
}

/** The order as the caller may see it: undefined when it does not exist, or is not theirs to see. */
const orderView = (caller: CallerShape, orderId: string, state: OrderState, version: number) => {
  if (state.status === "none" || !Caller.covers(caller, state.customerId)) return undefined
  return {
    orderId,
    customerId: state.customerId ?? "",
    status: state.status,
    lines: state.lines,
    totalCents: state.totalCents,
    currency: state.currency ?? "",
    version,
    lastDecline: state.lastDecline,
    refundedCents: state.refundedCents,
    shipment: state.shipment,
    cancelReason: state.cancelReason
  }
}

export const OrdersHttpLive = HttpApiBuilder.group(Api, "orders", (handlers) =>
  Effect.gen(function*() {
    const orders = yield* OrderActors
    const sagas = yield* FulfilmentSagas
    const store = yield* EventStore

    /** Whether the caller may see this order's records: a customer sees only their own orders'. */
    const visible = (orderId: string) =>
      Effect.gen(function*() {
        const caller = yield* Caller
        if (caller.grant.reach === "any") return true
        const current = yield* orders.read(orderId).pipe(Effect.mapError((error) => toHttpError("order", error)))
        return orderView(caller, orderId, current.state, current.version) !== undefined
      })

    const send = (
      route: string,
      orderId: string,
      headers: CommandHeaders,
      payload: unknown,
      command: (at: string) => OrderCommand,
      creates = false
    ) =>
      Effect.map(
        sendCommand(orders, { noun: "order", route, id: orderId, headers, payload, command, creates, ownOnly: true }),
        (result) => ({ orderId, version: result.version })
      )

    return handlers
      .handle("place", ({ headers, payload }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          if (!Caller.covers(caller, payload.customerId)) {
            return yield* Effect.fail(
              new Forbidden({
                error: "forbidden",
                message: `a customer places orders for themselves: customerId must be ${caller.principal.subject}, the token's subject`
              })
            )
          }
          const key = headers["idempotency-key"]
          const orderId = key === undefined ? randomUUID() : orderIdForKey(callerScope(caller), key)
          const accepted = yield* send("place", orderId, headers, payload, (at) =>
            OrderCommand.PlaceOrder({ customerId: payload.customerId, currency: payload.currency, lines: payload.lines, at }), true)
          yield* setHeader("location", `/orders/${orderId}`)
          return accepted
        }).pipe(cannotFailWith(NotFound, PreconditionFailed)))
      .handle("addItem", ({ headers, path, payload }) =>
        send("addItem", path.orderId, headers, payload, (at) => OrderCommand.AddItem({ ...payload, at })))
      .handle("removeItem", ({ headers, path }) =>
        send(`removeItem:${path.sku}`, path.orderId, headers, null, (at) => OrderCommand.RemoveItem({ sku: path.sku, at })))
      .handle("confirm", ({ headers, path }) =>
        send("confirm", path.orderId, headers, null, (at) => OrderCommand.Confirm({ at })))
      .handle("pay", ({ headers, path, payload }) =>
        send("pay", path.orderId, headers, payload, (at) => OrderCommand.Pay({ ...payload, at })))
      .handle("ship", ({ headers, path, payload }) =>
        send("ship", path.orderId, headers, payload, (at) => OrderCommand.Ship({ ...payload, at })))
      .handle("deliver", ({ headers, path }) =>
        send("deliver", path.orderId, headers, null, (at) => OrderCommand.Deliver({ at })))
      .handle("cancel", ({ headers, path, payload }) =>
        send("cancel", path.orderId, headers, payload, (at) => OrderCommand.Cancel({ ...payload, at })))
      .handle("get", ({ headers, path, urlParams }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const { atVersion, at } = urlParams
          const point: PointInTime | undefined = atVersion !== undefined && at !== undefined
            ? { _tag: "AtVersionBy", version: atVersion, moment: new Date(at) }
            : atVersion !== undefined
            ? { _tag: "AtVersion", version: atVersion }
            : at !== undefined
            ? { _tag: "At", moment: new Date(at) }
            : undefined
          const snapshot = point === undefined
            ? yield* orders.read(path.orderId).pipe(Effect.mapError((error) => toHttpError("order", error)))
            : yield* stateAt(orderAggregate, store, path.orderId, point).pipe(Effect.mapError((error) => toHttpError("order", error)))
          const view = orderView(caller, path.orderId, snapshot.state, snapshot.version)
          if (view === undefined) {
            return yield* Effect.fail(
              new NotFound({
                error: "not_found",
                message: `order ${path.orderId} ${point === undefined ? "does not exist" : `did not exist ${at !== undefined ? `at ${at}` : "yet"}`}`
              })
            )
          }
          if (atVersion !== undefined && at === undefined && snapshot.version < atVersion) {
            return yield* Effect.fail(
              new NotFound({ error: "not_found", message: `order ${path.orderId} has ${snapshot.version} versions, not ${atVersion}` })
            )
          }
          // Only the current state has an ETag: a past one is no base for If-Match.
          if (point === undefined) yield* answerWithEtag(snapshot.version, headers["if-none-match"])
          return view
        }))
      .handle("events", ({ path, urlParams }) =>
        Effect.gen(function*() {
          const notFound = new NotFound({ error: "not_found", message: `order ${path.orderId} does not exist` })
          // Whose it is, from the actor that holds it (a customer's own orders are mostly cached there).
          if (!(yield* visible(path.orderId))) return yield* Effect.fail(notFound)
          const streamId = streamIdOf(orderAggregate, path.orderId)
          const afterVersion = urlParams.afterVersion ?? 0
          const limit = urlParams.limit ?? DEFAULT_TIMELINE_PAGE
          const storeFailed = (error: { readonly message: string }) =>
            toHttpError("order", new StoreUnavailable({ message: `event store failed: ${error.message}` }))
          // One more than the page: whether another page follows.
          const events = yield* store.readStream(streamId, { afterVersion, toVersion: afterVersion + limit + 1 }).pipe(
            Effect.mapError(storeFailed)
          )
          if (events.length === 0 && (yield* store.streamVersion(streamId).pipe(Effect.mapError(storeFailed))) === 0) {
            return yield* Effect.fail(notFound)
          }
          const page = events.slice(0, limit)
          if (events.length > limit) {
            yield* setHeader("link", `</orders/${path.orderId}/events?afterVersion=${page.at(-1)!.version}&limit=${limit}>; rel="next"`)
          }
          return page.map((event) => ({
            version: event.version,
            type: event.type,
            schemaVersion: event.schemaVersion,
            data: event.data,
            metadata: event.metadata,
            recordedAt: event.recordedAt.toISOString(),
            globalPosition: event.globalPosition
          }))
        }))
      .handle("fulfilment", ({ path }) =>
        Effect.gen(function*() {
          const notFound = new NotFound({ error: "not_found", message: `order ${path.orderId} has no fulfilment (it was never confirmed)` })
          if (!(yield* visible(path.orderId))) return yield* Effect.fail(notFound)
          const { state, version } = yield* sagas.read(path.orderId).pipe(Effect.mapError((error) => toHttpError("fulfilment", error)))
          const view = fulfilmentView(state, version)
          if (view === undefined) return yield* Effect.fail(notFound)
          return { orderId: path.orderId, ...view }
        }))
  }))
