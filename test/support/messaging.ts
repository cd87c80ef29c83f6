/**
 * For tests of what reaches the brokers: a database of the test's own (a relay publishes everything
 * in its database) and a name prefix of its own for topics, exchanges and queues, both removed at
 * the end; and readers that take what arrived in Kafka and RabbitMQ.
 */
import amqp from "amqplib"
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { randomUUID } from "node:crypto"
import { RelayLive, RuntimeLive } from "../../src/app.js"
import { appConfig } from "../../src/config.js"
import { topology, type Topology } from "../../src/messaging/contracts.js"
import { declareTopology } from "../../src/messaging/rabbitTopology.js"
import { OrderCommand } from "../../src/domain/order/index.js"
import { EventStore, type RecordedEvent } from "../../src/eventstore/EventStore.js"
import { runMigrationsOn, scratchDatabase } from "./databases.js"
import { type ConfigOverrides, testConfig } from "./layers.js"
import { at } from "./orders.js"
import { removeTopology } from "../../bench/lib/brokers.js"

export const settings = Effect.runSync(Effect.orDie(appConfig))

export interface MessagingEnvironment {
  readonly databaseUrl: string
  readonly prefix: string
  readonly names: Topology
}

export class TestMessaging extends Context.Tag("test/TestMessaging")<TestMessaging, MessagingEnvironment>() {}

const kafka = new Kafka({ clientId: "tests", brokers: [...settings.kafka.brokers], logLevel: logLevel.NOTHING })

/** A scratch database, migrated, and a fresh prefix; the prefix's topics, exchange and queues go at the end. */
export const messagingEnvironment = Layer.scoped(
  TestMessaging,
  Effect.gen(function*() {
    const database = yield* scratchDatabase
    yield* runMigrationsOn(database.url)
    const prefix = `test-${randomUUID().slice(0, 8)}.`
    const names = topology(prefix)
    yield* Effect.addFinalizer(() => removeTopology(prefix))
    return { databaseUrl: database.url, prefix, names }
  })
)

/** Settings pointing at the environment's database and prefix, with a quick poll. */
export const environmentConfig = (env: MessagingEnvironment, overrides: ConfigOverrides = {}) =>
  testConfig({
    databaseUrl: env.databaseUrl,
    messagingPrefix: env.prefix,
    ...overrides,
    outbox: { pollInterval: Duration.millis(200), ...overrides.outbox }
  })

/** The store and the actors on the environment, with the outbox relay running in this process or not. */
export const appOnEnvironment = (options: { readonly relay: boolean }) =>
  Layer.unwrapEffect(
    Effect.map(TestMessaging, (env) =>
      (options.relay ? Layer.merge(RuntimeLive, RelayLive) : RuntimeLive).pipe(Layer.provide(environmentConfig(env))))
  ).pipe(Layer.provideMerge(messagingEnvironment))

export interface KafkaMessage {
  readonly partition: number
  readonly offset: string
  readonly key: string
  readonly value: any
  readonly headers: Readonly<Record<string, string>>
}

/**
 * Reads a topic from the beginning with a consumer group of its own until `done` holds of what
 * arrived (or the time runs out: then it fails, saying how many arrived).
 */
export const readTopic = (topic: string, done: (messages: ReadonlyArray<KafkaMessage>) => boolean, timeout = Duration.seconds(60)) =>
  Effect.tryPromise(async () => {
    const consumer = kafka.consumer({ groupId: `test-${randomUUID()}`, maxWaitTimeInMs: 100 })
    const messages: Array<KafkaMessage> = []
    try {
      await consumer.connect()
      await consumer.subscribe({ topic, fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ message, partition }) => {
          const headers: Record<string, string> = {}
          for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value)
          messages.push({
            partition,
            offset: message.offset,
            key: message.key!.toString(),
            value: JSON.parse(message.value!.toString()),
            headers
          })
        }
      })
      const deadline = Date.now() + Duration.toMillis(timeout)
      while (!done(messages)) {
        if (Date.now() > deadline) throw new Error(`${topic}: only ${messages.length} message(s) arrived in time`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      return messages
    } finally {
      await consumer.disconnect()
    }
  })

export interface AmqpMessage {
  readonly routingKey: string
  readonly properties: amqp.MessageProperties
  readonly body: any
}

/** Takes (and acks) messages from a queue until `done` holds of them, or fails when time runs out. */
export const readQueue = (names: Topology, done: (messages: ReadonlyArray<AmqpMessage>) => boolean, timeout = Duration.seconds(60)) =>
  Effect.tryPromise(async () => {
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    const messages: Array<AmqpMessage> = []
    try {
      const channel = await connection.createChannel()
      await declareTopology(channel, names, ["order"])
      await channel.consume(names.pushQueue, (message) => {
        if (message === null) return
        messages.push({ routingKey: message.fields.routingKey, properties: message.properties, body: JSON.parse(message.content.toString()) })
        channel.ack(message)
      })
      const deadline = Date.now() + Duration.toMillis(timeout)
      while (!done(messages)) {
        if (Date.now() > deadline) throw new Error(`${names.pushQueue}: only ${messages.length} message(s) arrived in time`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      return messages
    } finally {
      await connection.close().catch(() => undefined)
    }
  })

/** An order's whole life after placing it: 6 more events, 5 of them notifications (its payment recorded as the saga would). */
export const orderLifeAfterPlacing = (totalCents: number): ReadonlyArray<OrderCommand> => [
  OrderCommand.AddItem({ sku: "B", quantity: 2, unitPriceCents: 250, at }),
  OrderCommand.Confirm({ at }),
  OrderCommand.Pay({ amountCents: totalCents + 500, method: "card", at }),
  OrderCommand.RecordPayment({ attempt: 1, at }),
  OrderCommand.Ship({ carrier: "DHL", trackingNumber: "JD0146", at }),
  OrderCommand.Deliver({ at })
]

/** Versions per key in the order they arrived, every copy: a duplicate or a step back shows. */
export const versionsByKey = (messages: ReadonlyArray<KafkaMessage>) => {
  const byKey = new Map<string, Array<number>>()
  for (const message of messages) byKey.set(message.key, [...(byKey.get(message.key) ?? []), message.value.version])
  return byKey
}

/** Every event in the store, in commit order. */
export const allEvents = Effect.gen(function*() {
  const store = yield* EventStore
  const events: Array<RecordedEvent> = []
  for (;;) {
    const page = yield* store.readAll({ afterPosition: events.at(-1)?.globalPosition ?? 0, limit: 1000 })
    if (page.length === 0) return events
    events.push(...page)
  }
})
