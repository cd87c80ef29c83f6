/**
 * How the pieces are wired: settings → database pool → migrations → event store → actor systems.
 * Each layer constant is built once; the CLI picks the ones a command needs.
 */
import { NodeContext } from "@effect/platform-node"
import { Duration, Effect, Layer, Option } from "effect"
import { AggregatesLive, streamTypes } from "./aggregates.js"
import { AppConfig, type AppConfigShape } from "./config.js"
import * as PgDatabase from "./database/PgDatabase.js"
import { runMigrations } from "./database/migrations.js"
import * as PgEventStore from "./eventstore/PgEventStore.js"
import * as HttpServer from "./http/server.js"
import * as KafkaPublisher from "./outbox/KafkaPublisher.js"
import { topology } from "./outbox/messages.js"
import * as OutboxRelay from "./outbox/OutboxRelay.js"
import * as OutboxStore from "./outbox/OutboxStore.js"
import * as RabbitPublisher from "./outbox/RabbitPublisher.js"

export const DatabaseLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => PgDatabase.layer({ url: config.database.url, maxConnections: config.database.maxConnections }))
)

/** Applies pending migrations while the layer builds: nothing reads or writes before the schema is there. */
export const MigrationsLive = Layer.effectDiscard(Effect.orDie(runMigrations())).pipe(Layer.provide(NodeContext.layer))

export const StoreLive = PgEventStore.layer.pipe(
  Layer.provide(MigrationsLive),
  Layer.provideMerge(DatabaseLive)
)

export const RuntimeLive = AggregatesLive.pipe(Layer.provideMerge(StoreLive))

const kafkaTopics = (config: AppConfigShape) => ({
  brokers: config.kafka.brokers,
  clientId: "outbox-relay",
  topics: streamTypes.map(topology(config.messagingPrefix).eventsTopic),
  partitions: config.kafka.topicPartitions,
  replicationFactor: config.kafka.replicationFactor
})

/** The publishers the relay writes to, built from the settings. */
const PublishersLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    Layer.mergeAll(
      KafkaPublisher.layer({ ...kafkaTopics(config), sendTimeout: Duration.seconds(30) }),
      RabbitPublisher.layer({
        url: config.amqp.url,
        names: topology(config.messagingPrefix),
        streamTypes,
        confirmTimeout: Duration.seconds(30)
      })
    ))
)

/**
 * The outbox relay as a background fiber, with the topics created at start-up. In every process that
 * runs it; only one at a time is active (see OutboxRelay).
 */
export const RelayLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const config = yield* AppConfig
    yield* Effect.forkScoped(KafkaPublisher.createTopicsAtStartup(kafkaTopics(config)))
    yield* Effect.forkScoped(OutboxRelay.run({
      names: topology(config.messagingPrefix),
      batchSize: config.outbox.batchSize,
      pollInterval: config.outbox.pollInterval,
      retention: config.outbox.retention,
      crashAfterPublish: Option.getOrUndefined(config.outbox.crashAfterPublish)
    }))
  })
).pipe(Layer.provide([OutboxStore.layer, PublishersLive]), Layer.provide(StoreLive))

export const HttpLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => HttpServer.layer({ port: config.http.port, maxBodyBytes: config.http.maxBodyBytes }))
).pipe(Layer.provide(RuntimeLive), Layer.provide(NodeContext.layer))

/** `serve`: the HTTP API with its actors, and the outbox relay unless OUTBOX_RELAY=false. */
export const ServeLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => config.outbox.relayEnabled ? Layer.merge(HttpLive, RelayLive) : HttpLive)
)
