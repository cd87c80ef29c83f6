/**
 * Broker-side helpers for benchmarks: a run's own name prefix (topics, exchange, queue removed at the
 * end) and the floor — the same messages sent with the bare clients, no database, no relay.
 */
import amqp from "amqplib"
import { Effect, Redacted } from "effect"
import { Partitioners } from "kafkajs"
import { appConfig } from "../../src/config.js"
import { kafkaClient } from "../../src/messaging/kafka.js"
import type { AmqpRecord, KafkaRecord } from "../../src/messaging/contracts.js"
import { topology } from "../../src/messaging/contracts.js"
import { declareTopology } from "../../src/messaging/rabbitTopology.js"
import { publishOptions } from "../../src/messaging/contracts.js"

export const settings = Effect.runSync(Effect.orDie(appConfig))

/** Deletes the topics, the exchange and the queue under `prefix` (a test's or a benchmark's own). */
export const removeTopology = (prefix: string) =>
  Effect.promise(async () => {
    const names = topology(prefix)
    const admin = kafkaClient(settings.kafka.brokers, "cleanup").admin()
    await admin.connect()
    const topics = (await admin.listTopics()).filter((topic) => topic.startsWith(prefix))
    if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined)
    await admin.disconnect()
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    const channel = await connection.createChannel()
    await channel.deleteQueue(names.pushQueue).catch(() => undefined)
    await channel.deleteExchange(names.notificationsExchange).catch(() => undefined)
    await connection.close().catch(() => undefined)
  }).pipe(Effect.timeout("30 seconds"), Effect.ignore)

/** A prefix of the run's own; its topics, exchange and queue are deleted when the scope closes. */
export const runPrefix = (name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const prefix = `bench-${name}-${Date.now().toString(36)}.`
      return { prefix, names: topology(prefix) }
    }),
    ({ prefix }) => removeTopology(prefix)
  )

/** A bare idempotent kafkajs producer (acks from all in-sync replicas), as the relay uses. */
export const bareKafkaProducer = Effect.acquireRelease(
  Effect.promise(async () => {
    const kafka = kafkaClient(settings.kafka.brokers, "bench-floor")
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner })
    await producer.connect()
    return producer
  }),
  (producer) => Effect.promise(() => producer.disconnect())
)

export const kafkaMessages = (records: ReadonlyArray<KafkaRecord>) =>
  records.map((record) => ({ key: record.key, value: record.value, headers: { ...record.headers } }))

/** A bare amqplib confirm channel, with the same topology declared. */
export const bareConfirmChannel = (names: ReturnType<typeof topology>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const connection = await amqp.connect(Redacted.value(settings.amqp.url))
      const channel = await connection.createConfirmChannel()
      await declareTopology(channel, names, ["order"])
      return { connection, channel }
    }),
    ({ connection }) => Effect.promise(() => connection.close().catch(() => undefined))
  )

export const amqpPublish = (channel: amqp.ConfirmChannel, record: AmqpRecord, confirmed?: (error: unknown) => void) =>
  channel.publish(record.exchange, record.routingKey, record.content, publishOptions(record), confirmed)

/** Creates a topic for the floor's messages, as the relay's publisher would. */
export const createTopic = (topic: string) =>
  Effect.promise(async () => {
    const admin = kafkaClient(settings.kafka.brokers, "bench-floor-admin").admin()
    await admin.connect()
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: settings.kafka.topicPartitions }] })
    await admin.disconnect()
  })
