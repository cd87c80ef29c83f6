/**
 * `make bench-outbox`: what the transactional outbox costs on the way to the brokers.
 *
 * 1. Latency at a steady rate: order lives go through the actor runtime at `rate` events/s; for each
 *    event, the time from its commit (its recorded_at) to its broker's confirm — Kafka's ack (acks
 *    from all in-sync replicas) and RabbitMQ's publisher confirm — as the relay sees them.
 *    Floor, in the same run: the same messages at the same rate, sent by the bare clients.
 * 2. Drain: a backlog of `backlog` events (with their notifications) is written with no relay
 *    running; then the relay starts and the time until each destination's cursor has passed the
 *    last row gives events/s. Floor: the same number of messages through the bare clients, in
 *    batches of the relay's size.
 *
 *   node --import tsx bench/outbox.ts [--rate 1000] [--seconds 30] [--warmup 3] [--backlog 100000]
 */
import { Duration, Effect, Layer, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { parseArgs } from "node:util"
import * as PgDatabase from "../src/database/PgDatabase.js"
import { EventStore, type RecordedEvent } from "../src/eventstore/EventStore.js"
import * as PgEventStore from "../src/eventstore/PgEventStore.js"
import * as KafkaPublisher from "../src/messaging/KafkaPublisher.js"
import { toAmqpRecord, toKafkaRecord, type Topology } from "../src/messaging/contracts.js"
import * as QuarantineStore from "../src/quarantine/QuarantineStore.js"
import * as OutboxRelay from "../src/outbox/OutboxRelay.js"
import * as OutboxStore from "../src/outbox/OutboxStore.js"
import * as RabbitPublisher from "../src/messaging/RabbitPublisher.js"
import { amqpPublish, bareConfirmChannel, bareKafkaProducer, createTopic, kafkaMessages, runPrefix, settings } from "./lib/brokers.js"
import { freshDatabase } from "./lib/database.js"
import { NOTIFIED, steadyLoad, writeBacklog } from "./lib/load.js"
import { withProgress } from "./lib/progress.js"
import { markdownTable, runBenchmark } from "./lib/report.js"
import { percentiles, type Percentiles, perSecond, ratio } from "./lib/stats.js"

export interface OutboxBenchSettings {
  /** Events per second during the latency phase. */
  readonly rate: number
  readonly seconds: number
  /** Seconds at the start of the latency phase whose samples are not kept. */
  readonly warmupSeconds: number
  /** Events in the backlog of the drain phase. */
  readonly backlog: number
  readonly batchSize: number
  readonly quiet: boolean
}

export interface LatencyRow extends Percentiles {
  readonly kind: "latency"
  readonly destination: "kafka" | "rabbitmq"
  readonly mode: "relay" | "floor"
}

export interface DrainRow {
  readonly kind: "drain"
  readonly destination: "kafka" | "rabbitmq"
  readonly mode: "relay" | "floor"
  readonly messages: number
  readonly seconds: number
  readonly perSecond: number
}

/** The store, and the relay's store and publishers, on one database; publishers report each confirm. */
const relayEnvironment = (
  url: string,
  names: Topology,
  onConfirmed: (destination: "kafka" | "rabbitmq", records: ReadonlyArray<{ readonly recordedAt: string }>) => void
) => {
  const kafka = Layer.scoped(
    KafkaPublisher.KafkaPublisher,
    Effect.map(
      KafkaPublisher.make({
        brokers: settings.kafka.brokers,
        clientId: "bench-relay",
        topics: [names.eventsTopic("order")],
        partitions: settings.kafka.topicPartitions,
        replicationFactor: settings.kafka.replicationFactor,
        sendTimeout: Duration.seconds(30),
        transactionalId: names.relayTransactionalId,
        positionTopic: names.relayPositionTopic
      }),
      (inner) => ({
        ...inner,
        publish: (records) =>
          Effect.tap(inner.publish(records), () =>
            Effect.sync(() => onConfirmed("kafka", records.map(({ record }) => JSON.parse(record.value)))))
      })
    )
  )
  const rabbit = Layer.scoped(
    RabbitPublisher.RabbitPublisher,
    Effect.map(
      RabbitPublisher.make({ url: settings.amqp.url, names, streamTypes: ["order"], confirmTimeout: Duration.seconds(30) }),
      (inner) => ({
        publish: (records) =>
          Effect.tap(inner.publish(records), () =>
            Effect.sync(() => onConfirmed("rabbitmq", records.map((record) => JSON.parse(record.content.toString())))))
      })
    )
  )
  const database = PgDatabase.layer({ url: Redacted.make(url), maxConnections: 16, applicationName: "bench-outbox" })
  return Layer.mergeAll(PgEventStore.layer, OutboxStore.layer, QuarantineStore.layer, kafka, rabbit).pipe(Layer.provideMerge(database))
}

const relayOptions = (names: Topology, batchSize: number): OutboxRelay.OutboxRelayOptions => ({
  names,
  batchSize,
  pollInterval: Duration.seconds(1),
  retention: Duration.hours(1)
})

/** Latency phase: the relay running, the load at a steady rate; commit → confirm per event. */
const latencyPhase = (options: OutboxBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("outbox_latency")
    const { names } = yield* runPrefix("latency")
    const samples = { kafka: [] as Array<number>, rabbitmq: [] as Array<number>, commands: [] as Array<number> }
    let recording = false
    const environment = relayEnvironment(database.url, names, (destination, confirmed) => {
      if (!recording) return
      const now = Date.now()
      for (const message of confirmed) samples[destination].push(now - Date.parse(message.recordedAt))
    })
    yield* Effect.gen(function*() {
      yield* Effect.forkScoped(OutboxRelay.run(relayOptions(names, options.batchSize)))
      const seconds = options.warmupSeconds + options.seconds
      yield* Effect.forkScoped(Effect.sleep(Duration.seconds(options.warmupSeconds)).pipe(Effect.zipRight(Effect.sync(() => (recording = true)))))
      yield* withProgress(`relay at ${options.rate} events/s`, options.rate * seconds, options.quiet, (progress) =>
        steadyLoad(
          options.rate,
          seconds,
          (issued) => progress.update(issued, { unit: "events", detail: "" }),
          (millis) => recording && samples.commands.push(millis)
        ))
      // Let the last confirms arrive.
      yield* Effect.sleep("1 second")
    }).pipe(Effect.scoped, Effect.provide(environment))
    return samples
  }).pipe(Effect.scoped)

/** The same traffic without database or relay: one message per send, at the same rates. */
const latencyFloor = (options: OutboxBenchSettings, sample: RecordedEvent) =>
  Effect.gen(function*() {
    const { names } = yield* runPrefix("floor")
    const producer = yield* bareKafkaProducer
    const { channel } = yield* bareConfirmChannel(names)
    const topic = names.eventsTopic("order")
    yield* createTopic(topic)
    const samples = { kafka: [] as Array<number>, rabbitmq: [] as Array<number> }
    const seconds = options.warmupSeconds + options.seconds
    const total = options.rate * seconds
    const warmupEnds = options.warmupSeconds * options.rate
    yield* withProgress(`bare clients at ${options.rate} msgs/s`, total, options.quiet, (progress) =>
      Effect.promise(async () => {
        const pending: Array<Promise<unknown>> = []
        const started = Date.now()
        for (let sent = 0; sent < total;) {
          const due = Math.min(total, Math.floor(((Date.now() - started) / 1000) * options.rate))
          for (; sent < due; sent++) {
            const event = { ...sample, eventId: randomUUID(), streamId: randomUUID(), recordedAt: new Date() }
            const keep = sent >= warmupEnds
            // Latency counts from when the message was due, not from when the loop got to it: a
            // stalled sender must not hide the wait it caused (coordinated omission).
            const begun = started + (sent / options.rate) * 1000
            const record = toKafkaRecord(names, event)
            pending.push(
              producer.send({ topic, acks: -1, messages: kafkaMessages([record]) }).then(() => {
                if (keep) samples.kafka.push(Date.now() - begun)
              })
            )
            // Customers hear of 4 events in 6.
            if (sent % 3 !== 0) {
              const task = toAmqpRecord(names, event, { name: "shipped", customerId: randomUUID(), details: { carrier: "DHL", trackingNumber: "JD014600003958" } })
              pending.push(new Promise<void>((resolve, reject) =>
                amqpPublish(channel, task, (error) => {
                  if (error) return reject(error)
                  if (keep) samples.rabbitmq.push(Date.now() - begun)
                  resolve()
                })
              ))
            }
          }
          progress.update(sent, { unit: "msgs", detail: "" })
          await new Promise((resolve) => setTimeout(resolve, 2))
        }
        await Promise.all(pending)
      }))
    return samples
  }).pipe(Effect.scoped)

/** Drain phase: a backlog first, then the relay; events/s until each cursor passed the last row. */
const drainPhase = (options: OutboxBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("outbox_drain")
    const { names } = yield* runPrefix("drain")
    const environment = relayEnvironment(database.url, names, () => undefined)
    return yield* Effect.gen(function*() {
      const events = yield* writeBacklog(options.backlog, options.quiet)
      const store = yield* EventStore
      const outbox = yield* OutboxStore.OutboxStore
      // The commit-safe reader holds back what follows a transaction still open anywhere on the server
      // (another test's, another database's): read until the whole backlog has come through.
      const all: Array<RecordedEvent> = []
      while (all.length < events) {
        const page = yield* store.readAll({ afterPosition: all.at(-1)?.globalPosition ?? 0, limit: 10_000 })
        all.push(...page)
        if (page.length === 0) yield* Effect.sleep("50 millis")
      }
      const lastEvent = all.at(-1)!.globalPosition
      const notified = all.filter((event) => NOTIFIED.has(event.type))
      const lastNotification = notified.at(-1)!.globalPosition

      const started = Date.now()
      yield* Effect.forkScoped(OutboxRelay.run(relayOptions(names, options.batchSize)))
      const finished = { kafka: 0, rabbitmq: 0 }
      yield* withProgress("relay draining the backlog", events, options.quiet, (progress) =>
        Effect.gen(function*() {
          for (;;) {
            const [events_, notifications] = [yield* outbox.cursorOf("events"), yield* outbox.cursorOf("notifications")]
            const now = Date.now()
            if (finished.kafka === 0 && events_.globalPosition >= lastEvent) finished.kafka = now
            if (finished.rabbitmq === 0 && notifications.globalPosition >= lastNotification) finished.rabbitmq = now
            progress.update(Math.min(events, events_.globalPosition), {
              unit: "events",
              detail: `${perSecond(events_.globalPosition, now - started)} events/s`
            })
            if (finished.kafka > 0 && finished.rabbitmq > 0) return
            yield* Effect.sleep("20 millis")
          }
        }))
      return {
        kafka: { messages: all.length, millis: finished.kafka - started },
        rabbitmq: { messages: notified.length, millis: finished.rabbitmq - started },
        sample: all[0]!,
        sampleNotified: notified[0]!
      }
    }).pipe(Effect.scoped, Effect.provide(environment))
  }).pipe(Effect.scoped)

/** The drain's floor: as many messages through the bare clients, in batches of the relay's size. */
const drainFloor = (options: OutboxBenchSettings, kafkaCount: number, rabbitCount: number, sample: RecordedEvent) =>
  Effect.gen(function*() {
    const { names } = yield* runPrefix("drain-floor")
    const producer = yield* bareKafkaProducer
    const { channel } = yield* bareConfirmChannel(names)
    const topic = names.eventsTopic("order")
    yield* createTopic(topic)
    const event = (i: number): RecordedEvent => ({ ...sample, eventId: randomUUID(), streamId: `order-${i % 5000}`, recordedAt: new Date() })
    const kafkaMillis = yield* withProgress("bare kafkajs, batches", kafkaCount, options.quiet, (progress) =>
      Effect.promise(async () => {
        const started = Date.now()
        for (let sent = 0; sent < kafkaCount; sent += options.batchSize) {
          const records = Array.from({ length: Math.min(options.batchSize, kafkaCount - sent) }, (_, i) => toKafkaRecord(names, event(sent + i)))
          // In requests under the broker's size limit, as the relay sends them.
          for (const chunk of KafkaPublisher.chunksOf(records, 768 * 1024)) {
            await producer.sendBatch({ acks: -1, topicMessages: [{ topic, messages: kafkaMessages(chunk) }] })
          }
          progress.update(sent + records.length, { unit: "msgs", detail: "" })
        }
        return Date.now() - started
      }))
    const rabbitMillis = yield* withProgress("bare amqplib, confirmed batches", rabbitCount, options.quiet, (progress) =>
      Effect.promise(async () => {
        const started = Date.now()
        for (let sent = 0; sent < rabbitCount; sent += options.batchSize) {
          const size = Math.min(options.batchSize, rabbitCount - sent)
          for (let i = 0; i < size; i++) {
            const task = toAmqpRecord(names, event(sent + i), { name: "shipped", customerId: randomUUID(), details: { carrier: "DHL", trackingNumber: "JD014600003958" } })
            if (!amqpPublish(channel, task)) await new Promise((resolve) => channel.once("drain", resolve))
          }
          await channel.waitForConfirms()
          progress.update(sent + size, { unit: "msgs", detail: "" })
        }
        return Date.now() - started
      }))
    return { kafka: { messages: kafkaCount, millis: kafkaMillis }, rabbitmq: { messages: rabbitCount, millis: rabbitMillis } }
  }).pipe(Effect.scoped)

const drainRow = (destination: DrainRow["destination"], mode: DrainRow["mode"], run: { messages: number; millis: number }): DrainRow => ({
  kind: "drain",
  destination,
  mode,
  messages: run.messages,
  seconds: Number((run.millis / 1000).toFixed(2)),
  perSecond: perSecond(run.messages, run.millis)
})

export const runOutboxBench = (options: OutboxBenchSettings) =>
  Effect.gen(function*() {
    const drain = yield* drainPhase(options)
    const drainBare = yield* drainFloor(options, drain.kafka.messages, drain.rabbitmq.messages, drain.sample)
    const relay = yield* latencyPhase(options)
    const floor = yield* latencyFloor(options, drain.sample)

    const latencyRows: Array<LatencyRow> = [
      { kind: "latency", destination: "kafka", mode: "relay", ...percentiles(relay.kafka) },
      { kind: "latency", destination: "kafka", mode: "floor", ...percentiles(floor.kafka) },
      { kind: "latency", destination: "rabbitmq", mode: "relay", ...percentiles(relay.rabbitmq) },
      { kind: "latency", destination: "rabbitmq", mode: "floor", ...percentiles(floor.rabbitmq) }
    ]
    const drainRows: Array<DrainRow> = [
      drainRow("kafka", "relay", drain.kafka),
      drainRow("kafka", "floor", drainBare.kafka),
      drainRow("rabbitmq", "relay", drain.rabbitmq),
      drainRow("rabbitmq", "floor", drainBare.rabbitmq)
    ]
    return { latencyRows, drainRows, commands: percentiles(relay.commands) }
  })

export const outboxMarkdown = (options: OutboxBenchSettings, result: Effect.Effect.Success<ReturnType<typeof runOutboxBench>>) => {
  const latency = (destination: string, mode: string) => result.latencyRows.find((row) => row.destination === destination && row.mode === mode)!
  const drain = (destination: string, mode: string) => result.drainRows.find((row) => row.destination === destination && row.mode === mode)!
  const latencyTable = markdownTable(
    ["commit → confirm", "p50 ms", "p95 ms", "p99 ms", "samples", "floor p50 / p99 ms", "p99 ÷ floor p99"],
    (["kafka", "rabbitmq"] as const).map((destination) => {
      const relay = latency(destination, "relay")
      const floor = latency(destination, "floor")
      return [
        destination === "kafka" ? "Kafka ack (acks=all)" : "RabbitMQ publisher confirm",
        relay.p50Ms,
        relay.p95Ms,
        relay.p99Ms,
        relay.samples,
        `${floor.p50Ms} / ${floor.p99Ms}`,
        ratio(relay.p99Ms, floor.p99Ms)
      ]
    })
  )
  const drainTable = markdownTable(
    ["drain", "messages", "relay s", "relay msgs/s", "bare client msgs/s", "relay ÷ bare"],
    (["kafka", "rabbitmq"] as const).map((destination) => {
      const relay = drain(destination, "relay")
      const floor = drain(destination, "floor")
      return [
        destination === "kafka" ? "every event → Kafka" : "notifications → RabbitMQ",
        relay.messages,
        relay.seconds,
        relay.perSecond,
        floor.perSecond,
        ratio(relay.perSecond, floor.perSecond)
      ]
    })
  )
  return [
    `### Outbox: commit → broker confirm at a steady ${options.rate} events/s (${options.seconds} s after ${options.warmupSeconds} s warm-up)`,
    "",
    latencyTable,
    "",
    `Commands answered during the run (the append's commit included): p50 ${result.commands.p50Ms} ms, ` +
    `p95 ${result.commands.p95Ms} ms, p99 ${result.commands.p99Ms} ms.`,
    "",
    `### Outbox: draining a backlog of ${result.drainRows[0]!.messages} events (batches of ${options.batchSize})`,
    "",
    drainTable
  ].join("\n")
}

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      rate: { type: "string", default: "1000" },
      seconds: { type: "string", default: "30" },
      warmup: { type: "string", default: "3" },
      backlog: { type: "string", default: "100000" },
      "batch-size": { type: "string", default: String(settings.outbox.batchSize) }
    }
  })
  const options: OutboxBenchSettings = {
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    backlog: Number(values.backlog),
    batchSize: Number(values["batch-size"]),
    quiet: false
  }
  const result = yield* runOutboxBench(options)
  return { settings: { ...options }, rows: [...result.latencyRows, ...result.drainRows], markdown: outboxMarkdown(options, result) }
})

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark("outbox", main)
