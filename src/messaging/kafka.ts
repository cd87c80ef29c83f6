/**
 * Kafka as every role meets it: a client that fails fast, the topics (created with unlimited
 * retention, so any consumer can replay the whole history), and a consumer group's lag.
 */
import { Effect, Schedule } from "effect"
import { type Admin, Kafka, logLevel } from "kafkajs"
import { brokerUnavailable } from "./errors.js"

export interface KafkaTopicSpec {
  readonly topics: ReadonlyArray<string>
  readonly partitions: number
  readonly replicationFactor: number
}

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

/** A consumer group's lag on each partition of a topic: the end offsets less the group's committed ones. */
export const partitionLags = async (admin: Admin, topic: string, groupId: string) => {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })])
  const done = new Map(committed.flatMap((entry) => entry.partitions.map((p) => [p.partition, Number(p.offset)] as const)))
  return ends
    .map((end) => ({ partition: end.partition, lag: Math.max(0, Number(end.high) - Math.max(0, done.get(end.partition) ?? 0)) }))
    .sort((a, b) => a.partition - b.partition)
}

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
export const createTopicsAtStartup = (options: KafkaTopicSpec & { readonly brokers: ReadonlyArray<string>; readonly clientId: string }) =>
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
