/**
 * How the pieces are wired: settings → database pool → migrations → event store → actor systems.
 * Each layer constant is built once; the CLI picks the ones a command needs.
 */
import { NodeContext } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { AggregatesLive } from "./aggregates.js"
import { AppConfig } from "./config.js"
import * as PgDatabase from "./database/PgDatabase.js"
import { runMigrations } from "./database/migrations.js"
import * as PgEventStore from "./eventstore/PgEventStore.js"
import * as HttpServer from "./http/server.js"

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

export const HttpLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => HttpServer.layer({ port: config.http.port, maxBodyBytes: config.http.maxBodyBytes }))
).pipe(Layer.provide(RuntimeLive), Layer.provide(NodeContext.layer))
