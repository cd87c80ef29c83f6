/**
 * Operating the dead-letter queue: list the tasks in it, and send them (all, or some by event id)
 * back to the push queue with fresh attempts. Listing takes the messages without acking them and
 * then returns them all, so the queue is unchanged afterwards.
 */
import amqp from "amqplib"
import { Effect, Redacted } from "effect"
import type { Topology } from "../outbox/messages.js"
import { DeliveryStore } from "./DeliveryStore.js"

export interface DeadLetter {
  readonly eventId: string
  readonly routingKey: string
  readonly reason: string
  readonly attempts: number
  readonly deadLetteredAt: string
  readonly content: string
}

const toDeadLetter = (message: amqp.GetMessage): DeadLetter => {
  const headers = message.properties.headers ?? {}
  return {
    eventId: String(message.properties.messageId ?? ""),
    routingKey: String(headers["x-original-routing-key"] ?? message.fields.routingKey),
    reason: String(headers["x-dead-letter-reason"] ?? "unknown"),
    attempts: Number(headers["x-attempts"] ?? 0),
    deadLetteredAt: String(headers["x-dead-lettered-at"] ?? ""),
    content: message.content.toString("utf8")
  }
}

/** Takes up to `limit` messages unacked on a fresh channel and hands them to `use`. */
const withTaken = <A>(
  url: Redacted.Redacted,
  queue: string,
  limit: number,
  use: (channel: amqp.ConfirmChannel, messages: ReadonlyArray<amqp.GetMessage>) => Promise<A>
) =>
  Effect.tryPromise({
    try: async () => {
      const connection = await amqp.connect(Redacted.value(url))
      try {
        const channel = await connection.createConfirmChannel()
        await channel.checkQueue(queue)
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
  withTaken(url, names.deadLetterQueue, limit, async (_, messages) => messages.map(toDeadLetter))

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
      messages.filter(chosen).map((message) => String(message.properties.messageId ?? "")))
    yield* deliveries.reopen(candidates.filter((id) => /^[0-9a-f-]{36}$/i.test(id)))
    return yield* withTaken(url, names.deadLetterQueue, Number.MAX_SAFE_INTEGER, async (channel, messages) => {
      const requeued: Array<string> = []
      for (const message of messages.filter(chosen)) {
        const headers = { ...message.properties.headers }
        for (const name of ["x-dead-letter-reason", "x-attempts", "x-dead-lettered-at", "x-last-error"]) {
          delete headers[name]
        }
        channel.sendToQueue(names.pushQueue, message.content, { ...message.properties, persistent: true, headers })
        await channel.waitForConfirms()
        channel.ack(message)
        requeued.push(String(message.properties.messageId ?? ""))
      }
      return requeued
    })
  })
