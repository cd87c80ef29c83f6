/** The orders: the home page, finding one, a customer's orders, an order and its state at a version. */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Effect, Either, Option } from "effect"
import { type Action, covers, grantOf, type Principal } from "../../auth/policy.js"
import { streamIdOf } from "../../domain/aggregate.js"
import { orderAggregate } from "../../domain/order/index.js"
import { stateAt } from "../../runtime/timeTravel.js"
import { replayWithChanges } from "../diff.js"
import { html } from "../html.js"
import { customerPage, homePage } from "../pages/home.js"
import { orderPage, stateView, type TimelineRow } from "../pages/order.js"
import { forbidden, orderNotFound } from "../pages/problem.js"
import { at, paths } from "../paths.js"
import { fulfilmentView } from "../../processes/fulfilment/view.js"
import { notificationsOf } from "../readers.js"
import type { ConsoleRouter, ConsoleShell } from "../shell.js"

/** Events per page of an order's timeline. */
export const TIMELINE_PAGE_SIZE = 50

export const orderRoutes = (router: ConsoleRouter, shell: ConsoleShell) =>
  Effect.gen(function*() {
    const {
      orders, sagas, store, summaries, services, traceTemplate, problem, signedIn, may, respond, seeOther,
      isHtmx, UUID, firstParam, intParam, orLeft
    } = shell

    yield* router.get(paths.home, signedIn((viewer) =>
      Effect.gen(function*() {
        const principal = viewer.principal
        // A customer sees their own orders at once.
        const own = grantOf(principal, "listCustomerOrders")?.reach === "own" && principal.roles.includes("customer")
          ? yield* summaries.byCustomer(principal.subject, 20, undefined)
          : undefined
        return yield* respond(homePage(viewer, { ownOrders: own }))
      })
    ))

    yield* router.get(paths.find, signedIn((viewer) =>
      Effect.gen(function*() {
        const search = yield* HttpServerRequest.ParsedSearchParams
        const orderId = (firstParam(search, "orderId") ?? "").trim()
        const customerId = (firstParam(search, "customerId") ?? "").trim()
        if (orderId !== "") return seeOther(paths.order(orderId))
        if (customerId !== "") return seeOther(paths.customer(customerId))
        return yield* respond(homePage(viewer, { notice: { tone: "error", text: "Give an order id or a customer id." } }), 400)
      })
    ))

    yield* router.get(at("/customers/:customerId"), signedIn((viewer) =>
      Effect.gen(function*() {
        const customerId = (yield* HttpRouter.params).customerId ?? ""
        const denied = may(viewer, "listCustomerOrders", "list a customer's orders")
        if (Option.isSome(denied)) return yield* denied.value
        const grant = grantOf(viewer.principal, "listCustomerOrders")!
        if (!covers(grant, viewer.principal, customerId)) {
          return yield* problem({ ...forbidden("list another customer's orders", viewer.principal.roles), message: "A customer lists only their own orders." }, viewer)
        }
        const search = yield* HttpServerRequest.ParsedSearchParams
        const cursor = decodeCursor(firstParam(search, "cursor"))
        const page = yield* summaries.byCustomer(customerId, 51, cursor)
        const shown = page.slice(0, 50)
        const last = shown.at(-1)
        const next = page.length > 50 && last !== undefined
          ? `${paths.customer(customerId)}?cursor=${encodeCursor(last.placedAt, last.orderId)}`
          : undefined
        return yield* respond(customerPage(viewer, customerId, shown, next))
      })
    ))

    /** The order as the viewer may see it: none when it does not exist or is not theirs to see (the same answer). */
    const visibleOrder = (principal: Principal, orderId: string) =>
      Effect.gen(function*() {
        const grant = grantOf(principal, "readOrder")
        if (grant === undefined || !UUID.test(orderId)) return Option.none()
        const current = yield* orders.read(orderId)
        return current.state.status === "none" || !covers(grant, principal, current.state.customerId) ? Option.none() : Option.some(current)
      })

    /** Whether the viewer's grant for `action` covers this order (whose customer is given). */
    const reaches = (principal: Principal, action: Action, customerId: string | null) => {
      const grant = grantOf(principal, action)
      return grant !== undefined && covers(grant, principal, customerId)
    }

    yield* router.get(at("/orders/:orderId"), signedIn((viewer) =>
      Effect.gen(function*() {
        const orderId = (yield* HttpRouter.params).orderId ?? ""
        const denied = may(viewer, "readOrder", "read orders")
        if (Option.isSome(denied)) return yield* denied.value
        const found = yield* visibleOrder(viewer.principal, orderId)
        if (Option.isNone(found)) return yield* problem(orderNotFound(orderId), viewer)
        const { state, version } = found.value
        const search = yield* HttpServerRequest.ParsedSearchParams
        const streamId = streamIdOf(orderAggregate, orderId)

        const history = reaches(viewer.principal, "readHistory", state.customerId)
          ? yield* orLeft(Effect.flatMap(store.readStream(streamId), (events) =>
            Either.match(replayWithChanges(orderAggregate, events), {
              onLeft: (message) => Effect.fail(new Error(message)),
              onRight: Effect.succeed
            })))
          : undefined
        const steps = history?.ok === true ? history.value : []
        const pages = Math.max(1, Math.ceil(steps.length / TIMELINE_PAGE_SIZE))
        const wanted = intParam(firstParam(search, "version"))
        const selectedIndex = wanted !== undefined && wanted >= 1 && wanted <= steps.length ? wanted - 1 : steps.length - 1
        // The page holding the chosen version, unless a page was asked for.
        const pageNumber = Math.min(pages, Math.max(1, intParam(firstParam(search, "page")) ?? Math.floor(Math.max(0, selectedIndex) / TIMELINE_PAGE_SIZE) + 1))
        const selectedStep = steps[selectedIndex]
        const rows = steps.slice((pageNumber - 1) * TIMELINE_PAGE_SIZE, pageNumber * TIMELINE_PAGE_SIZE).map(({ changes, event }): TimelineRow => ({
          version: event.version,
          type: event.type,
          schemaVersion: event.schemaVersion,
          data: event.data,
          metadata: event.metadata,
          recordedAt: event.recordedAt,
          eventId: event.eventId,
          globalPosition: event.globalPosition,
          changes
        }))
        const notifications = reaches(viewer.principal, "readHistory", state.customerId)
          ? yield* orLeft(Effect.provide(notificationsOf(streamId), services))
          : undefined
        const fulfilment = reaches(viewer.principal, "readFulfilment", state.customerId)
          ? yield* orLeft(Effect.map(sagas.read(orderId), (saga) => fulfilmentView(saga.state, saga.version)))
          : undefined
        return yield* respond(orderPage(viewer, {
          orderId,
          state,
          version,
          timeline: history === undefined
            ? undefined
            : history.ok
            ? { ok: true, value: { rows, page: pageNumber, pages, total: steps.length } }
            : history,
          selected: selectedStep === undefined ? undefined : {
            version: selectedStep.event.version,
            of: steps.length,
            state: selectedStep.state,
            type: selectedStep.event.type,
            recordedAt: selectedStep.event.recordedAt
          },
          notifications,
          fulfilment,
          traceUrlTemplate: traceTemplate,
          linkCustomer: reaches(viewer.principal, "listCustomerOrders", state.customerId)
        }))
      })
    ))

    // The state after one version, for the slider (htmx swaps it in); without htmx, the order page.
    yield* router.get(at("/orders/:orderId/state"), signedIn((viewer, request) =>
      Effect.gen(function*() {
        const orderId = (yield* HttpRouter.params).orderId ?? ""
        const search = yield* HttpServerRequest.ParsedSearchParams
        const version = intParam(firstParam(search, "version")) ?? 1
        if (!isHtmx(request)) return seeOther(`${paths.order(orderId)}?version=${version}#state`)
        const found = yield* visibleOrder(viewer.principal, orderId)
        if (Option.isNone(found) || !reaches(viewer.principal, "readHistory", found.value.state.customerId)) {
          return yield* respond(html`<div id="state-view"><p class="notice notice-error">Order ${orderId} was not found.</p></div>`, 404)
        }
        const at = Math.min(Math.max(1, version), found.value.version)
        const snapshot = yield* stateAt(orderAggregate, store, orderId, { _tag: "AtVersion", version: at })
        const [event] = yield* store.readStream(streamIdOf(orderAggregate, orderId), { afterVersion: at - 1, toVersion: at })
        return yield* respond(stateView(orderId, {
          version: snapshot.version,
          of: found.value.version,
          state: snapshot.state,
          type: event?.type ?? "",
          recordedAt: event?.recordedAt ?? new Date(0)
        }))
      })
    ))
  })

const encodeCursor = (placedAt: string, orderId: string) => Buffer.from(JSON.stringify([placedAt, orderId])).toString("base64url")

const decodeCursor = (text: string | undefined) => {
  if (text === undefined) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"))
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === "string" && typeof value[1] === "string" &&
      !Number.isNaN(Date.parse(value[0])) && new Date(value[0]).toISOString() === value[0]) {
      return { placedAt: value[0], orderId: value[1] }
    }
  } catch {
    // not one of ours: the first page
  }
  return undefined
}
