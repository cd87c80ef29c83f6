/**
 * RabbitMQ's topology as the relay and the workers both declare it: the `notifications` topic
 * exchange, the durable quorum push queue (with its delivery limit and dead-letter queue) and one
 * binding per stream type. Declaring is idempotent, so whichever process connects first may do it.
 */
import type amqp from "amqplib"
import type { Topology } from "./contracts.js"

/**
 * Deliveries of one task from the push queue before RabbitMQ gives up on it and moves it to the
 * dead-letter queue. Workers put a task back only when they could not claim it or record its
 * outcome, each time after a growing wait, so this many spans many minutes of database outage.
 * Part of the queue's arguments: changing it makes the declaration of an existing queue fail.
 */
export const PUSH_QUEUE_DELIVERY_LIMIT = 20

/**
 * The push queue: a quorum queue whose given-up tasks go to the dead-letter queue at least once
 * (RabbitMQ keeps them until the dead-letter queue confirms). At-least-once dead-lettering needs
 * `reject-publish`; with no length limit set, nothing is ever rejected.
 */
export const pushQueueArguments = (names: Topology) => ({
  "x-queue-type": "quorum",
  "x-delivery-limit": PUSH_QUEUE_DELIVERY_LIMIT,
  "x-dead-letter-exchange": "",
  "x-dead-letter-routing-key": names.deadLetterQueue,
  "x-dead-letter-strategy": "at-least-once",
  "x-overflow": "reject-publish"
})

const bindPushQueue = async (channel: amqp.Channel, names: Topology, streamTypes: ReadonlyArray<string>) => {
  for (const streamType of streamTypes) {
    await channel.bindQueue(names.pushQueue, names.notificationsExchange, names.notificationPattern(streamType))
  }
}

/** Declares the exchange, the push queue and its bindings (idempotent). */
export const declareTopology = async (
  channel: amqp.Channel,
  names: Topology,
  streamTypes: ReadonlyArray<string>
) => {
  await channel.assertExchange(names.notificationsExchange, "topic", { durable: true })
  await channel.assertQueue(names.pushQueue, { durable: true, arguments: pushQueueArguments(names) })
  await bindPushQueue(channel, names, streamTypes)
}

/**
 * Runs `use` on a channel of its own, closed afterwards: a declaration the broker refuses closes
 * the channel it was made on, and must not take a channel that carries messages with it.
 */
export const onFreshChannel = async <A>(connection: amqp.ChannelModel, use: (channel: amqp.Channel) => Promise<A>) => {
  const channel = await connection.createChannel()
  // The refusal also reaches `use` as a rejected promise.
  channel.on("error", () => undefined)
  try {
    return await use(channel)
  } finally {
    await channel.close().catch(() => undefined)
  }
}

const isPreconditionFailed = (error: unknown) =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === 406

/**
 * `declareTopology` for a broker that may hold a push queue declared by an earlier version (a
 * quorum queue without dead-letter queue and delivery limit). RabbitMQ refuses to change a queue's
 * arguments, and quorum queues cannot be deleted only-if-empty, so such a queue is used as it is
 * ("outdated") and the caller says so; an operator replaces it (see the README).
 */
export const declareTopologyOn = async (
  connection: amqp.ChannelModel,
  names: Topology,
  streamTypes: ReadonlyArray<string>
): Promise<"current" | "outdated"> => {
  try {
    await onFreshChannel(connection, (channel) => declareTopology(channel, names, streamTypes))
    return "current"
  } catch (error) {
    if (!isPreconditionFailed(error)) throw error
  }
  await onFreshChannel(connection, async (channel) => {
    await channel.assertExchange(names.notificationsExchange, "topic", { durable: true })
    await channel.checkQueue(names.pushQueue)
    await bindPushQueue(channel, names, streamTypes)
  })
  return "outdated"
}

/** What to log when `declareTopologyOn` found an outdated push queue. */
export const outdatedPushQueue = (names: Topology) =>
  `${names.pushQueue} was declared by an earlier version, without a dead-letter queue and delivery limit; ` +
  "it is used as it is. To replace it, stop the relays, let the workers empty it, delete it and start again"
