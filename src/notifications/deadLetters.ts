/**
 * Operating the dead-letter queue: list the tasks in it, and send them (all, or some by event id)
 * back to the push queue with fresh attempts. Listing takes the messages without acking them and
 * then returns them all, so the queue is unchanged afterwards.
 */
import amqp from "amqplib"
import { Effect, Redacted } from "effect"
import type { Topology } from "../messaging/contracts.js"
import { DeliveryStore } from "./DeliveryStore.js"

export interface DeadLetter {
  readonly eventId: string
  readonly routingKey: string
  readonly reason: string
  readonly attempts: number
  readonly deadLetteredAt: string
  readonly content: string
}

/** RabbitMQ's own record of the last time it dead-lettered the message (newest first). */
const lastDeath = (headers: Record<string, unknown>) => {
  const deaths = headers["x-death"]
  const last = Array.isArray(deaths) ? deaths[0] : undefined
  return typeof last === "object" && last !== null ? last as { reason?: unknown; queue?: unknown; time?: unknown } : undefined
}

/** Why: the worker says so in a header; a task RabbitMQ gave up on (its delivery limit) has only x-death. */
const reasonOf = (headers: Record<string, unknown>) => {
  if (headers["x-dead-letter-reason"] !== undefined) return String(headers["x-dead-letter-reason"])
  const death = lastDeath(headers)
  if (death?.reason === "delivery_limit") return `redelivered too often from ${String(death.queue)} (could not be claimed or recorded)`
  return death === undefined ? "unknown" : `${String(death.reason)} in ${String(death.queue)}`
}

/**
 * The routing key the task was first published with: the worker keeps it in a header; a task
 * RabbitMQ dead-lettered on its own has it only in its oldest x-death record.
 */
const routingKeyOf = (message: amqp.GetMessage) => {
  const headers = message.properties.headers ?? {}
  if (headers["x-original-routing-key"] !== undefined) return String(headers["x-original-routing-key"])
  const deaths = headers["x-death"]
  const oldest = Array.isArray(deaths) ? deaths[deaths.length - 1] as { "routing-keys"?: unknown } | undefined : undefined
  const keys = oldest?.["routing-keys"]
  return Array.isArray(keys) && keys.length > 0 ? String(keys[0]) : message.fields.routingKey
}

const whenOf = (headers: Record<string, unknown>) => {
  if (headers["x-dead-lettered-at"] !== undefined) return String(headers["x-dead-lettered-at"])
  // amqplib reads an AMQP timestamp (seconds) as { "!": "timestamp", value }.
  const time = lastDeath(headers)?.time as { value?: unknown } | undefined
  return typeof time?.value === "number" ? new Date(time.value * 1000).toISOString() : ""
}

const toDeadLetter = (message: amqp.GetMessage): DeadLetter => {
  const headers = message.properties.headers ?? {}
  return {
    eventId: String(message.properties.messageId ?? ""),
    routingKey: routingKeyOf(message),
    reason: reasonOf(headers),
    attempts: Number(headers["x-attempts"] ?? 0),
    deadLetteredAt: whenOf(headers),
    content: message.content.toString("utf8")
  }
}

/** amqplib's error for a queue that is not there (the worker declares it; none has run yet). */
const isMissingQueue = (error: unknown) => typeof error === "object" && error !== null && (error as { code?: unknown }).code === 404

/**
 * Takes up to `limit` messages unacked on a fresh channel and hands them to `use`. A queue no worker
 * has declared yet holds nothing: `use` gets no messages (and no channel to use).
 */
const withTaken = <A>(
  url: Redacted.Redacted,
  queue: string,
  limit: number,
  use: (channel: amqp.ConfirmChannel, messages: ReadonlyArray<amqp.GetMessage>) => Promise<A>,
  empty: A
) =>
  Effect.tryPromise({
    try: async () => {
      const connection = await amqp.connect(Redacted.value(url))
      // A channel closed by the broker (no such queue) is answered here, not as an uncaught 'error'.
      connection.on("error", () => undefined)
      try {
        const channel = await connection.createConfirmChannel()
        channel.on("error", () => undefined)
        const exists = await channel.checkQueue(queue).then(() => true, (error: unknown) => {
          if (isMissingQueue(error)) return false
          throw error
        })
        if (!exists) return empty
        const messages: Array<amqp.GetMessage> = []
        while (messages.length < limit) {
          const message = await channel.get(queue, { noAck: false })
          if (message === false) break
          messages.push(message)
        }
        const result = await use(channel, messages)
        // What was not acked goes back, in order.
        channel.nackAll(true)
        await channel.close()
        return result
      } finally {
        await connection.close().catch(() => undefined)
      }
    },
    catch: (cause) => new Error(`dead-letter queue ${queue}: ${cause instanceof Error ? cause.message : String(cause)}`)
  })

export const listDeadLetters = (url: Redacted.Redacted, names: Topology, limit: number) =>
  withTaken(url, names.deadLetterQueue, limit, async (_, messages) => messages.map(toDeadLetter), [])

/**
 * Sends the dead letters whose event id is in `eventIds` (all of them when it is undefined) back to
 * the push queue, with their attempts reset; gives the ids sent back.
 */
export const requeueDeadLetters = (url: Redacted.Redacted, names: Topology, eventIds: ReadonlyArray<string> | undefined) =>
  Effect.gen(function*() {
    const deliveries = yield* DeliveryStore
    const chosen = (message: amqp.GetMessage) =>
      eventIds === undefined || eventIds.includes(String(message.properties.messageId ?? ""))
    // First the records, so the returning tasks may be claimed; then the messages.
    const candidates = yield* withTaken(url, names.deadLetterQueue, Number.MAX_SAFE_INTEGER, async (_, messages) =>
      messages.filter(chosen).map((message) => String(message.properties.messageId ?? "")), [])
    yield* deliveries.reopen(candidates.filter((id) => /^[0-9a-f-]{36}$/i.test(id)))
    return yield* withTaken(url, names.deadLetterQueue, Number.MAX_SAFE_INTEGER, async (channel, messages) => {
      const requeued: Array<string> = []
      for (const message of messages.filter(chosen)) {
        // Sent straight to the push queue: the routing key it came with travels in a header.
        const headers: Record<string, unknown> = { ...message.properties.headers, "x-original-routing-key": routingKeyOf(message) }
        for (
          const name of [
            "x-dead-letter-reason",
            "x-attempts",
            "x-dead-lettered-at",
            "x-last-error",
            "x-death",
            "x-first-death-exchange",
            "x-first-death-queue",
            "x-first-death-reason",
            "x-delivery-count"
          ]
        ) {
          delete headers[name]
        }
        channel.sendToQueue(names.pushQueue, message.content, { ...message.properties, persistent: true, headers })
        await channel.waitForConfirms()
        channel.ack(message)
        requeued.push(String(message.properties.messageId ?? ""))
      }
      return requeued
    }, [])
  })
