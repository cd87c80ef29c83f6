/**
 * Publishes event envelopes to Kafka through an idempotent producer, acknowledged by all in-sync
 * replicas. On (re)connecting it creates the topics it publishes to, with unlimited retention, so any
 * consumer can replay the whole history. A failed send drops the producer; the next call connects a
 * fresh one, so a broker that comes back is used again without restarting the process.
 */
import { Context, Duration, Effect, Layer, Schedule } from "effect"
import { type Admin, Kafka, logLevel, Partitioners, type Producer } from "kafkajs"
import { BrokerUnavailable, brokerUnavailable } from "./errors.js"
import type { KafkaRecord } from "./messages.js"

export interface KafkaTopicSpec {
  readonly topics: ReadonlyArray<string>
  readonly partitions: number
  readonly replicationFactor: number
}

export interface KafkaPublisherOptions extends KafkaTopicSpec {
  readonly brokers: ReadonlyArray<string>
  readonly clientId: string
  /** A send not acknowledged within this time fails (and is retried by the caller). */
  readonly sendTimeout: Duration.Duration
  /**
   * Records go out in requests of at most about this many bytes, one after another, so that no
   * partition's batch passes the broker's `message.max.bytes` (1 MiB by default). Default 768 KiB.
   */
  readonly maxRequestBytes?: number
}

export interface KafkaPublisherShape {
  /** Sends the records, in order per topic and key; succeeds once every one is acknowledged. */
  readonly publish: (records: ReadonlyArray<KafkaRecord>) => Effect.Effect<void, BrokerUnavailable>
}

export class KafkaPublisher extends Context.Tag("app/KafkaPublisher")<KafkaPublisher, KafkaPublisherShape>() {}

const unavailable = (what: string) => brokerUnavailable("kafka", what)

/** A Kafka client that fails fast, leaving retries and their logging to the caller. */
export const kafkaClient = (brokers: ReadonlyArray<string>, clientId: string) =>
  new Kafka({
    clientId,
    brokers: [...brokers],
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 2_000 },
    logLevel: logLevel.NOTHING
  })

/** Creates the topics that do not exist yet: `retention.ms` and `retention.bytes` unlimited. */
export const ensureTopics = (admin: Admin, spec: KafkaTopicSpec) =>
  Effect.tryPromise({
    try: async () => {
      const existing = new Set(await admin.listTopics())
      const missing = spec.topics.filter((topic) => !existing.has(topic))
      if (missing.length === 0) return missing
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: spec.partitions,
          replicationFactor: spec.replicationFactor,
          configEntries: [
            { name: "retention.ms", value: "-1" },
            { name: "retention.bytes", value: "-1" }
          ]
        }))
      })
      return missing
    },
    catch: unavailable("creating topics")
  }).pipe(
    Effect.tap((created) =>
      created.length > 0 ? Effect.logInfo("kafka topics created").pipe(Effect.annotateLogs({ topics: created.join(",") })) : Effect.void
    )
  )

/**
 * Creates the topics at start-up, before anything subscribes, retrying while Kafka is unreachable
 * (the relay creates them too when it connects, so nothing waits on this).
 */
export const createTopicsAtStartup = (options: Omit<KafkaPublisherOptions, "sendTimeout">) =>
  Effect.gen(function*() {
    const admin = kafkaClient(options.brokers, `${options.clientId}-admin`).admin()
    yield* Effect.acquireUseRelease(
      Effect.tryPromise({ try: () => admin.connect(), catch: unavailable("connecting") }),
      () => ensureTopics(admin, options),
      () => Effect.promise(() => admin.disconnect().catch(() => undefined))
    )
  }).pipe(
    Effect.tapError((error) => Effect.logDebug("kafka topics not created yet", error.message)),
    Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced("10 seconds")))),
    Effect.catchAll(() => Effect.void)
  )

/** Consecutive runs of records whose encoded size stays under `maxBytes` (a record alone may pass it). */
export const chunksOf = (records: ReadonlyArray<KafkaRecord>, maxBytes: number) => {
  const chunks: Array<Array<KafkaRecord>> = []
  let current: Array<KafkaRecord> = []
  let bytes = 0
  for (const record of records) {
    // Headers and framing add about 200 bytes.
    const size = Buffer.byteLength(record.key) + Buffer.byteLength(record.value) + 200
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(record)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

export const make = (options: KafkaPublisherOptions) =>
  Effect.gen(function*() {
    const kafka = kafkaClient(options.brokers, options.clientId)
    let producer: Producer | undefined

    const disconnect = Effect.suspend(() => {
      const current = producer
      producer = undefined
      return current === undefined
        ? Effect.void
        : Effect.promise(() => current.disconnect().catch(() => undefined)).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    })
    yield* Effect.addFinalizer(() => disconnect)

    const connected = Effect.suspend(() => {
      if (producer !== undefined) return Effect.succeed(producer)
      return Effect.gen(function*() {
        const admin = kafka.admin()
        yield* Effect.acquireUseRelease(
          Effect.tryPromise({ try: () => admin.connect(), catch: unavailable("connecting") }),
          () => ensureTopics(admin, options),
          () => Effect.promise(() => admin.disconnect().catch(() => undefined))
        )
        // One request in flight per broker keeps each partition's order through retries.
        const fresh = kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          createPartitioner: Partitioners.DefaultPartitioner
        })
        yield* Effect.tryPromise({ try: () => fresh.connect(), catch: unavailable("connecting the producer") })
        producer = fresh
        return fresh
      })
    })

    const publish: KafkaPublisherShape["publish"] = (records) =>
      Effect.gen(function*() {
        if (records.length === 0) return
        const client = yield* connected
        for (const chunk of chunksOf(records, options.maxRequestBytes ?? 768 * 1024)) {
          const byTopic = new Map<string, Array<{ key: string; value: string; headers: Record<string, string> }>>()
          for (const record of chunk) {
            const messages = byTopic.get(record.topic) ?? []
            messages.push({ key: record.key, value: record.value, headers: { ...record.headers } })
            byTopic.set(record.topic, messages)
          }
          yield* Effect.tryPromise({
            try: () =>
              client.sendBatch({
                acks: -1,
                timeout: Duration.toMillis(options.sendTimeout),
                topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages }))
              }),
            catch: unavailable("sending")
          }).pipe(
            Effect.timeoutFail({
              duration: Duration.sum(options.sendTimeout, Duration.seconds(5)),
              onTimeout: () => new BrokerUnavailable({ broker: "kafka", message: "sending: no acknowledgement in time" })
            }),
            Effect.tapError(() => disconnect)
          )
        }
      }).pipe(Effect.withSpan("KafkaPublisher.publish", { attributes: { records: records.length } }))

    return KafkaPublisher.of({ publish })
  })

export const layer = (options: KafkaPublisherOptions) => Layer.scoped(KafkaPublisher, make(options))
