/**
 * The brokers the outbox builds on, proven through the clients the project uses: one message
 * produced and consumed through kafkajs, one published on a confirm channel and consumed through
 * amqplib. Each test uses a topic or queue of its own.
 */
import { describe, expect, it } from "@effect/vitest"
import amqp from "amqplib"
import { Effect, Redacted } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { randomUUID } from "node:crypto"
import { appConfig } from "../../src/config.js"

const settings = Effect.runSync(Effect.orDie(appConfig))

describe("brokers", () => {
  it("Kafka: an idempotent producer's message comes back to a new consumer group, key and headers intact", async () => {
    const kafka = new Kafka({ clientId: "smoke-test", brokers: [...settings.kafka.brokers], logLevel: logLevel.NOTHING })
    const topic = `smoke.${randomUUID()}`
    const admin = kafka.admin()
    await admin.connect()
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
    const consumer = kafka.consumer({ groupId: `smoke-${randomUUID()}` })
    try {
      expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })).toBe(true)
      await producer.connect()
      const [ack] = await producer.send({
        topic,
        acks: -1,
        messages: [{ key: "order-1", value: JSON.stringify({ hello: "kafka" }), headers: { "event-type": "Smoke" } }]
      })
      expect(ack).toMatchObject({ topicName: topic, partition: 0, errorCode: 0 })

      await consumer.connect()
      await consumer.subscribe({ topic, fromBeginning: true })
      const received = await new Promise<{ key: string; value: unknown; eventType: string }>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) =>
            resolve({
              key: message.key!.toString(),
              value: JSON.parse(message.value!.toString()),
              eventType: message.headers!["event-type"]!.toString()
            })
        })
      })
      expect(received).toEqual({ key: "order-1", value: { hello: "kafka" }, eventType: "Smoke" })
    } finally {
      await consumer.disconnect()
      await producer.disconnect()
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined)
      await admin.disconnect()
    }
  })

  it("RabbitMQ: a persistent message confirmed by the broker is consumed from a durable queue", async () => {
    const connection = await amqp.connect(Redacted.value(settings.amqp.url))
    const queue = `smoke.${randomUUID()}`
    try {
      const channel = await connection.createConfirmChannel()
      await channel.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } })
      const messageId = randomUUID()
      channel.sendToQueue(queue, Buffer.from(JSON.stringify({ hello: "rabbit" })), {
        persistent: true,
        messageId,
        contentType: "application/json"
      })
      await channel.waitForConfirms()
      const message = await new Promise<amqp.ConsumeMessage>((resolve) => {
        void channel.consume(queue, (delivered) => delivered && resolve(delivered))
      })
      channel.ack(message)
      expect(message.properties.messageId).toBe(messageId)
      expect(JSON.parse(message.content.toString())).toEqual({ hello: "rabbit" })
      await channel.deleteQueue(queue)
    } finally {
      await connection.close()
    }
  })
})
