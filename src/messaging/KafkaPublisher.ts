/**
 * Publishes event envelopes to Kafka exactly once and in outbox order, through a transactional
 * producer — the way Kafka Connect's exactly-once source connectors do (KIP-618): each batch goes out
 * in one transaction together with the relay's position in the outbox (a record on a compacted
 * topic of its own), so the events and the position become visible together or not at all to
 * read-committed consumers.
 *
 * Every producer session starts by fencing: its first transaction (InitProducerId under the one
 * transactional id) bumps the id's epoch, which aborts a previous session's open transaction and
 * makes its producer unable to send or commit — a deposed relay still publishing is refused by the
 * broker. Then it reads the committed position and skips every record at or before it, so a batch
 * that a crashed or deposed relay committed, but never marked in PostgreSQL, is not sent again. A
 * session's commit succeeds only if no other session fenced it since it read the position, so the
 * records committed to each key's partition never repeat and never go backwards, whoever publishes.
 *
 * On (re)connecting it creates the topics it publishes to, with unlimited retention, so any consumer
 * can replay the whole history. A failed send drops the producer; the next call connects (and fences)
 * afresh, so a broker that comes back is used again without restarting the process.
 */
import { Context, Duration, Effect, Layer } from "effect"
import { type Admin, Kafka, logLevel, Partitioners, type Producer } from "kafkajs"
import { randomUUID } from "node:crypto"
import type { KafkaRecord } from "./contracts.js"
import { BrokerRejected, BrokerUnavailable, brokerUnavailable } from "./errors.js"
import { ensureTopics, type KafkaTopicSpec } from "./kafka.js"
import { compareCommitPositions, type CommitPosition } from "../eventstore/commitPosition.js"

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
  /** One per deployment: every relay process uses it, so that each new session fences the last. */
  readonly transactionalId: string
  /** The compacted topic the relay's position is committed to, in each transaction. */
  readonly positionTopic: string
}

/** A record and the outbox position of the row it comes from. */
export interface PositionedRecord {
  readonly record: KafkaRecord
  readonly position: CommitPosition
}

export interface KafkaPublisherShape {
  /**
   * Sends the records not yet committed (those after the committed position), in order per topic
   * and key, and their last position, in one transaction; succeeds once it is committed.
   */
  readonly publish: (records: ReadonlyArray<PositionedRecord>) => Effect.Effect<void, BrokerUnavailable | BrokerRejected>
  /** Starts a fresh session now: fences any other publisher, and learns the committed position. */
  readonly fence: Effect.Effect<void, BrokerUnavailable>
}

export class KafkaPublisher extends Context.Tag("app/KafkaPublisher")<KafkaPublisher, KafkaPublisherShape>() {}

const unavailable = (what: string) => brokerUnavailable("kafka", what)

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

/** Errors about the records themselves: the broker gives the same answer to the same records. */
const REJECTED_RECORDS = new Set(["MESSAGE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_RECORD"])

const sendFailed = (cause: unknown) => {
  const type = typeof cause === "object" && cause !== null ? (cause as { type?: unknown }).type : undefined
  return typeof type === "string" && REJECTED_RECORDS.has(type)
    ? new BrokerRejected({ broker: "kafka", message: `the broker refuses the records: ${type} (${(cause as Error).message})` })
    : unavailable("sending")(cause)
}

/** The key of the relay's position record (one destination publishes to Kafka: the event log). */
const POSITION_KEY = "events"

/**
 * The last committed position on the (one-partition) position topic, or undefined when none was
 * ever committed. A read-committed consumer reads it from the start up to the end offset taken
 * first; compaction keeps that short. Aborted records and transaction markers are skipped.
 */
const committedPosition = (kafka: Kafka, admin: Admin, topic: string, clientId: string) =>
  Effect.tryPromise({
    try: async () => {
      const [partition] = await admin.fetchTopicOffsets(topic)
      if (partition === undefined || BigInt(partition.high) <= BigInt(partition.low)) return undefined
      const end = BigInt(partition.high) - 1n
      const consumer = kafka.consumer({ groupId: `${clientId}.position.${randomUUID()}`, readUncommitted: false, maxWaitTimeInMs: 50 })
      let position: CommitPosition | undefined
      try {
        const reachedEnd = new Promise<void>((resolve) =>
          consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
            if (BigInt(payload.lastOffset) >= end) resolve()
          })
        )
        await consumer.connect()
        await consumer.subscribe({ topic, fromBeginning: true })
        await consumer.run({
          eachMessage: async ({ message }) => {
            if (message.key?.toString() === POSITION_KEY && message.value !== null) {
              position = JSON.parse(message.value.toString()) as CommitPosition
            }
          }
        })
        await reachedEnd
      } finally {
        await consumer.disconnect().catch(() => undefined)
      }
      return position
    },
    catch: unavailable("reading the relay's committed position")
  }).pipe(
    Effect.timeoutFail({
      duration: "30 seconds",
      onTimeout: () => new BrokerUnavailable({ broker: "kafka", message: "reading the relay's committed position: no answer in time" })
    })
  )

/** The position topic: compacted, one partition, small segments so that compaction keeps it short. */
const positionTopicSpec = (topic: string, replicationFactor: number) => ({
  topic,
  numPartitions: 1,
  replicationFactor,
  configEntries: [
    { name: "cleanup.policy", value: "compact" },
    { name: "segment.bytes", value: String(1024 * 1024) },
    { name: "min.cleanable.dirty.ratio", value: "0.1" }
  ]
})

export const make = (options: KafkaPublisherOptions) =>
  Effect.gen(function*() {
    // Transactions retry CONCURRENT_TRANSACTIONS right after a commit: a short first retry keeps
    // small transactions from waiting the default 300 ms each.
    const kafka = new Kafka({
      clientId: options.clientId,
      brokers: [...options.brokers],
      connectionTimeout: 3_000,
      requestTimeout: 30_000,
      retry: { retries: 5, initialRetryTime: 20, maxRetryTime: 2_000 },
      logLevel: logLevel.NOTHING
    })
    /** The producer of the current session, and the position committed as far as it knows. */
    let session: { readonly producer: Producer; committed: CommitPosition | undefined } | undefined

    const disconnect = Effect.suspend(() => {
      const current = session
      session = undefined
      return current === undefined
        ? Effect.void
        : Effect.promise(() => current.producer.disconnect().catch(() => undefined)).pipe(Effect.timeout("5 seconds"), Effect.ignore)
    })
    yield* Effect.addFinalizer(() => disconnect)

    const connected = Effect.suspend(() => {
      if (session !== undefined) return Effect.succeed(session)
      return Effect.gen(function*() {
        const admin = kafka.admin()
        return yield* Effect.acquireUseRelease(
          Effect.tryPromise({ try: () => admin.connect(), catch: unavailable("connecting") }),
          () =>
            Effect.gen(function*() {
              yield* ensureTopics(admin, options)
              yield* Effect.tryPromise({
                try: async () => {
                  const existing = await admin.listTopics()
                  if (existing.includes(options.positionTopic)) return
                  await admin.createTopics({
                    waitForLeaders: true,
                    topics: [positionTopicSpec(options.positionTopic, options.replicationFactor)]
                  })
                },
                catch: unavailable("creating the position topic")
              })
              const producer = kafka.producer({
                transactionalId: options.transactionalId,
                idempotent: true,
                maxInFlightRequests: 1,
                // A session that dies mid-transaction holds read-committed consumers back this long at most.
                transactionTimeout: Duration.toMillis(Duration.sum(options.sendTimeout, Duration.seconds(5))),
                createPartitioner: Partitioners.DefaultPartitioner
              })
              yield* Effect.tryPromise({
                try: async () => {
                  await producer.connect()
                  // The fence: the first transaction's InitProducerId bumps the epoch.
                  const first = await producer.transaction()
                  await first.abort()
                },
                catch: unavailable("starting a transactional session")
              }).pipe(Effect.tapError(() => Effect.promise(() => producer.disconnect().catch(() => undefined))))
              const committed = yield* committedPosition(kafka, admin, options.positionTopic, options.clientId)
              session = { producer, committed }
              return session
            }),
          () => Effect.promise(() => admin.disconnect().catch(() => undefined))
        )
      })
    })

    const publish: KafkaPublisherShape["publish"] = (records) =>
      Effect.gen(function*() {
        const current = yield* connected
        const committed = current.committed
        const fresh = committed === undefined
          ? records
          : records.filter((record) => compareCommitPositions(record.position, committed) > 0)
        if (fresh.length === 0) return
        const through = fresh[fresh.length - 1]!.position
        yield* Effect.tryPromise({
          try: async () => {
            const transaction = await current.producer.transaction()
            try {
              for (const chunk of chunksOf(fresh.map((record) => record.record), options.maxRequestBytes ?? 768 * 1024)) {
                const byTopic = new Map<string, Array<{ key: string; value: string; headers: Record<string, string> }>>()
                for (const record of chunk) {
                  const messages = byTopic.get(record.topic) ?? []
                  messages.push({ key: record.key, value: record.value, headers: { ...record.headers } })
                  byTopic.set(record.topic, messages)
                }
                await transaction.sendBatch({
                  acks: -1,
                  timeout: Duration.toMillis(options.sendTimeout),
                  topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages }))
                })
              }
              await transaction.send({
                topic: options.positionTopic,
                acks: -1,
                messages: [{ key: POSITION_KEY, value: JSON.stringify(through) }]
              })
              await transaction.commit()
            } catch (error) {
              await transaction.abort().catch(() => undefined)
              throw error
            }
          },
          catch: sendFailed
        }).pipe(
          Effect.timeoutFail({
            duration: Duration.sum(options.sendTimeout, Duration.seconds(5)),
            onTimeout: () => new BrokerUnavailable({ broker: "kafka", message: "sending: no acknowledgement in time" })
          }),
          // Whether it committed is then unknown: the next session reads the position and knows.
          Effect.tapError(() => disconnect)
        )
        current.committed = through
      }).pipe(Effect.withSpan("KafkaPublisher.publish", { attributes: { records: records.length } }))

    const fence = Effect.zipRight(disconnect, Effect.asVoid(connected))

    return KafkaPublisher.of({ publish, fence })
  })

export const layer = (options: KafkaPublisherOptions) => Layer.scoped(KafkaPublisher, make(options))
