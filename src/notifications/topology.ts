/**
 * The worker's queues beside the push queue: the dead-letter queue, and one delay queue per wait
 * that hands its tasks back to the push queue when their time is up.
 *
 * Delay queues are quorum queues that dead-letter at least once: RabbitMQ keeps an expired task
 * until the push queue confirmed it, where a classic queue's dead-lettering drops it if the push
 * queue cannot take it at that moment (a restart, say).
 */
import type amqp from "amqplib"
import { Duration } from "effect"
import type { Topology } from "../messaging/contracts.js"
import { declareTopologyOn, onFreshChannel } from "../messaging/rabbitTopology.js"

/** The waits before retry 1, 2, …: base × 2^(n − 1), one per attempt after the first. */
export const retryDelays = (options: { readonly maxAttempts: number; readonly retryBaseDelay: Duration.Duration }) =>
  Array.from({ length: Math.max(0, options.maxAttempts - 1) }, (_, i) => Duration.toMillis(options.retryBaseDelay) * 2 ** i)

/**
 * The wait, in milliseconds, of the delay queue for a wait of at least `millis`: a backoff step when
 * one fits exactly, otherwise `millis` rounded up to a whole second (such queues are declared when
 * first needed, so a Retry-After is honoured without one queue per millisecond).
 */
export const delayFor = (delays: ReadonlyArray<number>, millis: number) =>
  delays.includes(millis) ? millis : Math.max(1000, Math.ceil(millis / 1000) * 1000)

const delayQueueOptions = (names: Topology, delay: number): amqp.Options.AssertQueue => ({
  durable: true,
  arguments: {
    "x-queue-type": "quorum",
    "x-message-ttl": delay,
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": names.pushQueue,
    // Without reject-publish RabbitMQ quietly falls back to at-most-once; no length limit is set,
    // so nothing is ever rejected.
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish"
  }
})

/** Declares the delay queue that waits `delay` ms (idempotent). */
export const declareDelayQueue = (connection: amqp.ChannelModel, names: Topology, delay: number) =>
  onFreshChannel(connection, (channel) => channel.assertQueue(names.delayQueue(delay), delayQueueOptions(names, delay)))

/**
 * Declares the dead-letter queue, then the push queue and its bindings (which dead-letter into it),
 * then the delay queues; tells whether the push queue is an outdated one (see `declareTopologyOn`).
 */
export const declareWorkerTopology = async (
  connection: amqp.ChannelModel,
  names: Topology,
  streamTypes: ReadonlyArray<string>,
  delays: ReadonlyArray<number>
) => {
  await onFreshChannel(connection, (channel) =>
    channel.assertQueue(names.deadLetterQueue, { durable: true, arguments: { "x-queue-type": "quorum" } }))
  const pushQueue = await declareTopologyOn(connection, names, streamTypes)
  for (const delay of delays) await declareDelayQueue(connection, names, delay)
  return pushQueue
}
