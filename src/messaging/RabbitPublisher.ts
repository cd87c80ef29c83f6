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
import { type AmqpRecord, publishOptions, type Topology } from "./contracts.js"
import { BrokerRejected, BrokerUnavailable, brokerUnavailable } from "./errors.js"
import { declareTopologyOn, outdatedPushQueue } from "./rabbitTopology.js"

class Unroutable extends Error {
  constructor(count: number, example: string) {
    super(`${count} message(s) unroutable, e.g. ${example}`)
  }
}

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
