/**
 * What the customer reads: a title and a body per notification, from the task's details. Pure; a
 * task this cannot render (an unknown notification, a missing detail) is refused with the reason,
 * and the worker dead-letters it at once: no retry would make it renderable.
 */
import { Either } from "effect"
import type { NotificationTask } from "../messaging/contracts.js"

/** The request the push gateway receives. */
export interface PushNotification {
  /** The customer to reach. */
  readonly to: string
  readonly title: string
  readonly body: string
  readonly data: {
    readonly streamType: string
    readonly streamId: string
    readonly eventId: string
    readonly notification: string
    readonly version: number
  }
}

const money = (cents: number, currency: string) =>
  new Intl.NumberFormat("en", { style: "currency", currency }).format(cents / 100)

type Details = NotificationTask["details"]

const text = (details: Details, name: string): Either.Either<string, string> => {
  const value = details[name]
  return typeof value === "string" && value.length > 0 ? Either.right(value) : Either.left(`details.${name} is missing`)
}
const cents = (details: Details, name: string): Either.Either<number, string> => {
  const value = details[name]
  return typeof value === "number" && Number.isInteger(value) ? Either.right(value) : Either.left(`details.${name} is missing`)
}
const amount = (details: Details, name: string) =>
  Either.flatMap(Either.all([cents(details, name), text(details, "currency")]), ([value, currency]) =>
    Either.try({ try: () => money(value, currency), catch: () => `details.currency ${currency} is not a currency code` }))

const templates: Record<string, (details: Details) => Either.Either<{ title: string; body: string }, string>> = {
  confirmed: (details) =>
    Either.map(amount(details, "totalCents"), (total) => ({
      title: "Order confirmed",
      body: `Your order of ${total} is confirmed. We will let you know when it ships.`
    })),
  "payment-pending": (details) =>
    Either.map(amount(details, "amountCents"), (due) => ({
      title: "Payment in progress",
      body: `We are processing your payment of ${due}.`
    })),
  "payment-declined": (details) =>
    Either.map(text(details, "reason"), (reason) => ({
      title: "Payment declined",
      body: `Your payment was declined (${reason}). Your order is kept; you can pay again.`
    })),
  refunded: (details) =>
    Either.map(amount(details, "amountCents"), (refunded) => ({
      title: "Refund issued",
      body: `We refunded ${refunded} to you.`
    })),
  paid: (details) =>
    Either.map(Either.all([amount(details, "amountCents"), text(details, "method")]), ([paid, method]) => ({
      title: "Payment received",
      body: `We received your payment of ${paid} by ${method}.`
    })),
  shipped: (details) =>
    Either.map(Either.all([text(details, "carrier"), text(details, "trackingNumber")]), ([carrier, tracking]) => ({
      title: "Your order is on its way",
      body: `Shipped with ${carrier}. Tracking number: ${tracking}.`
    })),
  delivered: () => Either.right({ title: "Delivered", body: "Your order has been delivered. Enjoy!" }),
  cancelled: (details) =>
    Either.map(text(details, "reason"), (reason) => ({
      title: "Order cancelled",
      body: `Your order was cancelled: ${reason}.`
    }))
}

export const renderNotification = (task: NotificationTask): Either.Either<PushNotification, string> => {
  const template = templates[task.notification]
  if (template === undefined) return Either.left(`no template for notification "${task.notification}"`)
  if (task.customerId.length === 0) return Either.left("customerId is empty")
  return Either.map(template(task.details), ({ title, body }) => ({
    to: task.customerId,
    title,
    body,
    data: {
      streamType: task.streamType,
      streamId: task.streamId,
      eventId: task.eventId,
      notification: task.notification,
      version: task.version
    }
  }))
}
