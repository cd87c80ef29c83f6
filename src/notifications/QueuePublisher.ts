/**
 * Publishing to a named queue on a confirm channel, one message at a time: a publish succeeds only
 * once the broker confirmed that very message, within a time limit, and found the queue. Messages
 * are mandatory, so one sent to a queue that no longer exists is returned and fails instead of
 * vanishing — and a slow or blocked confirm fails that publish alone, not every publish on the
 * channel (as `waitForConfirms` would).
 */
import type amqp from "amqplib"
import { Data, Duration, Effect } from "effect"
import { randomUUID } from "node:crypto"

export class PublishFailed extends Data.TaggedError("PublishFailed")<{
  readonly queue: string
  readonly reason: string
  /** The broker had no such queue. */
  readonly unroutable: boolean
}> {
  override get message() {
    return `publishing to ${this.queue}: ${this.reason}`
  }
}

export interface QueuePublisher {
  readonly publish: (queue: string, content: Buffer, properties: amqp.Options.Publish) => Effect.Effect<void, PublishFailed>
}

/**
 * Tells a returned message from the others: the broker returns a message before it confirms it,
 * but confirms of other messages may come in between, so returns are matched by this header.
 */
const PUBLISH_ID = "x-publish-id"

export const makeQueuePublisher = (channel: amqp.ConfirmChannel, confirmTimeout: Duration.Duration): QueuePublisher => {
  const returned = new Set<string>()
  channel.on("return", (message: amqp.Message) => {
    const id = message.properties.headers?.[PUBLISH_ID]
    if (typeof id === "string") returned.add(id)
  })

  const publish: QueuePublisher["publish"] = (queue, content, properties) =>
    Effect.async<void, PublishFailed>((resume) => {
      const id = randomUUID()
      const fail = (reason: string, unroutable = false) => resume(Effect.fail(new PublishFailed({ queue, reason, unroutable })))
      try {
        channel.sendToQueue(
          queue,
          content,
          { ...properties, mandatory: true, headers: { ...properties.headers, [PUBLISH_ID]: id } },
          (error: unknown) => {
            const wasReturned = returned.delete(id)
            if (error) fail(`the broker refused it: ${error instanceof Error ? error.message : String(error)}`)
            else if (wasReturned) fail("no such queue", true)
            else resume(Effect.void)
          }
        )
      } catch (error) {
        fail(error instanceof Error ? error.message : String(error))
      }
      return Effect.sync(() => returned.delete(id))
    }).pipe(
      Effect.timeoutFail({
        duration: confirmTimeout,
        onTimeout: () =>
          new PublishFailed({ queue, reason: `no confirm within ${Duration.format(confirmTimeout)}`, unroutable: false })
      })
    )

  return { publish }
}
