/**
 * Publishes notification tasks to RabbitMQ on a confirm channel: a batch counts as sent only once
 * the broker confirmed every message of it. Messages are mandatory, so one that no queue takes is
 * returned and fails the batch instead of vanishing. Each (re)connection declares the topology
 * first — the `notifications` topic exchange, the durable quorum queue `push-notifications` (with
 * its delivery limit and dead-letter queue) and one binding per stream type — so the broker may
 * start after the runtime, or lose its definitions.
 */
import amqp from "amqplib"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { BrokerRejected, BrokerUnavailable, brokerUnavailable } from "./errors.js"

class Unroutable extends Error {
  constructor(count: number, example: string) {
    super(`${count} message(s) unroutable, e.g. ${example}`)
  }
}
import type { AmqpRecord, Topology } from "./messages.js"

export interface RabbitPublisherOptions {
  readonly url: Redacted.Redacted
  readonly names: Topology
  readonly streamTypes: ReadonlyArray<string>
  /** A batch not confirmed within this time fails (and is retried by the caller). */
  readonly confirmTimeout: Duration.Duration
}

export interface RabbitPublisherShape {
  readonly publish: (records: ReadonlyArray<AmqpRecord>) => Effect.Effect<void, BrokerUnavailable | BrokerRejected>
}

export class RabbitPublisher extends Context.Tag("app/RabbitPublisher")<RabbitPublisher, RabbitPublisherShape>() {}

const unavailable = (what: string) => brokerUnavailable("rabbitmq", what)

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

/** The message properties of a task: persistent JSON, identified by its event id. */
export const publishOptions = (record: AmqpRecord): amqp.Options.Publish => ({
  persistent: true,
  contentType: "application/json",
  messageId: record.messageId,
  correlationId: record.correlationId,
  type: record.type,
  timestamp: record.timestamp,
  headers: record.headers
})

interface Session {
  readonly connection: amqp.ChannelModel
  readonly channel: amqp.ConfirmChannel
  /** Message ids the broker returned as unroutable since the last batch began. */
  readonly returned: Set<string>
  /** True until a batch went through: the topology was declared on this very connection. */
  fresh: boolean
  broken: boolean
  pushQueue: "current" | "outdated"
}

export const make = (options: RabbitPublisherOptions) =>
  Effect.gen(function*() {
    let session: Session | undefined

    const disconnect = Effect.suspend(() => {
      const current = session
      session = undefined
      return current === undefined
        ? Effect.void
        : Effect.promise(() => current.connection.close().catch(() => undefined)).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    })
    yield* Effect.addFinalizer(() => disconnect)

    const connect = Effect.tryPromise({
      try: async (): Promise<Session> => {
        const connection = await amqp.connect(Redacted.value(options.url), { timeout: 5_000 })
        try {
          const channel = await connection.createConfirmChannel()
          const fresh: Session = { connection, channel, returned: new Set(), fresh: true, broken: false, pushQueue: "current" }
          // Without listeners these events would crash the process; a broken session is replaced.
          const markBroken = () => (fresh.broken = true)
          connection.on("error", markBroken)
          connection.on("close", markBroken)
          channel.on("error", markBroken)
          channel.on("close", markBroken)
          channel.on("return", (message: amqp.Message) => fresh.returned.add(String(message.properties.messageId)))
          fresh.pushQueue = await declareTopologyOn(connection, options.names, options.streamTypes)
          return fresh
        } catch (error) {
          await connection.close().catch(() => undefined)
          throw error
        }
      },
      catch: unavailable("connecting")
    }).pipe(
      Effect.tap((fresh) => fresh.pushQueue === "outdated" ? Effect.logWarning(outdatedPushQueue(options.names)) : Effect.void)
    )

    const connected = Effect.suspend(() =>
      session !== undefined && !session.broken
        ? Effect.succeed(session)
        : Effect.zipRight(disconnect, Effect.tap(connect, (fresh) => Effect.sync(() => (session = fresh))))
    )

    const send = (current: Session, records: ReadonlyArray<AmqpRecord>) =>
      Effect.tryPromise({
        try: async () => {
          current.returned.clear()
          for (const record of records) {
            const accepted = current.channel.publish(record.exchange, record.routingKey, record.content, {
              ...publishOptions(record),
              mandatory: true
            })
            // The socket's buffer is full: wait for it to empty before writing more.
            if (!accepted) await new Promise<void>((resolve) => current.channel.once("drain", resolve))
          }
          await current.channel.waitForConfirms()
          // A returned message comes before its confirm, so the set is complete here.
          if (current.returned.size > 0) throw new Unroutable(current.returned.size, [...current.returned][0]!)
          current.fresh = false
        },
        // Unroutable on a connection that has just declared the topology: no queue will ever take
        // these messages (a routing key no binding matches). Otherwise the topology may have been
        // removed behind us: the next connection declares it again.
        catch: (cause) =>
          cause instanceof Unroutable && current.fresh
            ? new BrokerRejected({ broker: "rabbitmq", message: `no queue takes the message(s): ${cause.message}` })
            : unavailable("publishing")(cause)
      })

    const publish: RabbitPublisherShape["publish"] = (records) =>
      Effect.gen(function*() {
        if (records.length === 0) return
        const current = yield* connected
        yield* send(current, records).pipe(
          Effect.timeoutFail({
            duration: options.confirmTimeout,
            onTimeout: () => new BrokerUnavailable({ broker: "rabbitmq", message: "publishing: no confirm in time" })
          }),
          Effect.tapError(() => disconnect)
        )
      }).pipe(Effect.withSpan("RabbitPublisher.publish", { attributes: { records: records.length } }))

    return RabbitPublisher.of({ publish })
  })

export const layer = (options: RabbitPublisherOptions) => Layer.scoped(RabbitPublisher, make(options))
