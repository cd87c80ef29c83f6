/** Handlers of the orders endpoints: turn requests into commands for the order actors. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Clock, Effect } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { OrderActors } from "../../aggregates.js"
import { OrderCommand, orderAggregate, type OrderState } from "../../domain/order/index.js"
import type { EventMetadata } from "../../eventstore/EventStore.js"
import { EventStore } from "../../eventstore/EventStore.js"
import type { CommandOptions } from "../../runtime/AggregateActor.js"
import { commandIdForKey } from "../../runtime/commandIds.js"
import { StoreUnavailable } from "../../runtime/errors.js"
import { type PointInTime, stateAt } from "../../runtime/timeTravel.js"
import { Api } from "../Api.js"
import { BadRequest, Forbidden, NotFound, toHttpError, Unavailable } from "../errors.js"
import { Caller, type CallerShape } from "../security.js"

interface CommandHeaders {
  readonly "idempotency-key"?: string | undefined
  readonly "x-correlation-id"?: string | undefined
  readonly "x-causation-id"?: string | undefined
  readonly "if-match"?: string | undefined
}

const setHeader = (name: string, value: string) =>
  HttpApp.appendPreResponseHandler((_request, response) => Effect.succeed(HttpServerResponse.setHeader(response, name, value)))

const etag = (version: number) => `"${version}"`

/**
 * Who asked, and which command this is: named here, once per request (from the caller's
 * Idempotency-Key when there is one, so that a retry with it is the same command), so that the
 * command decided twice — its node died before it answered, and the cluster sent it again — is
 * stored once.
 */
const metadataFrom = (headers: CommandHeaders, caller: CallerShape): EventMetadata => ({
  commandId: headers["idempotency-key"] === undefined ? randomUUID() : commandIdForKey(callerScope(caller), headers["idempotency-key"]),
  correlationId: headers["x-correlation-id"] ?? randomUUID(),
  causationId: headers["x-causation-id"] ?? null,
  userId: caller.principal.subject,
  role: caller.grant.role
})

/** Fingerprint of a request, so that an Idempotency-Key reused for a different request is refused. */
const requestHash = (route: string, orderId: string, payload: unknown) =>
  createHash("sha256").update(`${route}\n${orderId}\n${JSON.stringify(payload ?? null)}`).digest("hex")

/** Whose idempotency keys these are: the caller's, so that two callers' equal keys never meet. */
const callerScope = (caller: CallerShape) => `subject:${caller.principal.subject}`

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

const nowIso = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis).toISOString())

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
    const store = yield* EventStore

    /**
     * Sends one command and shapes the answer: ETag on success, Retry-After on 503. An order the
     * caller may not command is not found, as if it did not exist. A place creates the order: whose
     * it is was checked against the request, and, without an Idempotency-Key, its id is new.
     */
    const send = (
      route: string,
      orderId: string,
      headers: CommandHeaders,
      payload: unknown,
      makeCommand: (at: string) => OrderCommand,
      creates = false
    ) =>
      Effect.gen(function*() {
        const caller = yield* Caller
        const key = headers["idempotency-key"]
        const ifMatch = headers["if-match"]
        const options: CommandOptions = {
          onlyFor: creates || caller.grant.reach === "any" ? undefined : caller.principal.subject,
          expectedVersion: ifMatch === undefined ? undefined : Number(ifMatch.slice(1, -1)),
          idempotency: key === undefined
            ? undefined
            : { scope: callerScope(caller), key, requestHash: requestHash(route, orderId, payload) },
          metadata: metadataFrom(headers, caller),
          newStream: creates && key === undefined
        }
        const result = yield* orders.execute(orderId, makeCommand(yield* nowIso), options).pipe(
          Effect.mapError((error) => toHttpError("order", error)),
          Effect.tapError((error) =>
            error instanceof Unavailable && error.retryAfterSeconds !== undefined
              ? setHeader("retry-after", String(error.retryAfterSeconds))
              : Effect.void
          )
        )
        yield* setHeader("etag", etag(result.version))
        yield* setHeader("x-correlation-id", options.metadata.correlationId)
        return { orderId, version: result.version }
      })

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
        }).pipe(
          // PlaceOrder is decided before any existence check, so "not found" cannot come back here.
          Effect.catchIf((error) => error instanceof NotFound, (error) => Effect.die(error))
        ))
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
      .handle("get", ({ path, urlParams }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const { atVersion, at } = urlParams
          if (atVersion !== undefined && at !== undefined) {
            return yield* Effect.fail(
              new BadRequest({ error: "bad_request", field: "at", message: "give atVersion or at, not both" })
            )
          }
          const point: PointInTime | undefined = atVersion !== undefined
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
          if (atVersion !== undefined && snapshot.version < atVersion) {
            return yield* Effect.fail(
              new NotFound({ error: "not_found", message: `order ${path.orderId} has ${snapshot.version} versions, not ${atVersion}` })
            )
          }
          // Only the current state has an ETag: a past one is no base for If-Match.
          if (point === undefined) yield* setHeader("etag", etag(snapshot.version))
          return view
        }))
      .handle("events", ({ path }) =>
        Effect.gen(function*() {
          const caller = yield* Caller
          const notFound = new NotFound({ error: "not_found", message: `order ${path.orderId} does not exist` })
          // Whose it is, from the actor that holds it (a customer's own orders are mostly cached there).
          if (caller.grant.reach !== "any") {
            const current = yield* orders.read(path.orderId).pipe(Effect.mapError((error) => toHttpError("order", error)))
            if (orderView(caller, path.orderId, current.state, current.version) === undefined) return yield* Effect.fail(notFound)
          }
          const events = yield* store.readStream(path.orderId).pipe(
            Effect.mapError((error) => toHttpError("order", new StoreUnavailable({ message: `event store failed: ${error.message}` })))
          )
          if (events.length === 0) return yield* Effect.fail(notFound)
          return events.map((event) => ({
            version: event.version,
            type: event.type,
            schemaVersion: event.schemaVersion,
            data: event.data,
            metadata: event.metadata,
            recordedAt: event.recordedAt.toISOString(),
            globalPosition: event.globalPosition
          }))
        }))
  }))
