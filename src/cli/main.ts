/**
 * The command line: `serve` runs the HTTP API with the actors; `migrate` applies migrations;
 * `events` prints a stream or the global log.
 */
import { Args, Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Option } from "effect"
import { DatabaseLive, RelayLive, ServeLive, StoreLive } from "../app.js"
import { AppConfig } from "../config.js"
import { runMigrations } from "../database/migrations.js"
import { EventStore } from "../eventstore/EventStore.js"
import { LoggingLive } from "../logging.js"

const serve = Command.make("serve", {}, () =>
  Layer.launch(ServeLive).pipe(Effect.tapErrorCause((cause) => Effect.logError("the server stopped", cause)))
).pipe(Command.withDescription("Serve the HTTP API and run the outbox relay (applies pending migrations first)"))

const relay = Command.make("relay", {}, () =>
  Layer.launch(RelayLive).pipe(Effect.tapErrorCause((cause) => Effect.logError("the relay stopped", cause)))
).pipe(Command.withDescription("Run the outbox relay alone (one process at a time is active; others stand by)"))

const migrate = Command.make("migrate", {}, () =>
  runMigrations().pipe(
    Effect.flatMap((ran) => Console.log(ran.length === 0 ? "migrations: nothing to apply" : `migrations applied: ${ran.join(", ")}`)),
    Effect.provide(DatabaseLive)
  )).pipe(Command.withDescription("Apply pending migrations and exit"))

const printEvents = (events: ReadonlyArray<{ globalPosition: number; streamId: string; version: number; type: string; recordedAt: Date; data: unknown }>) =>
  Effect.forEach(events, (event) =>
    Console.log(
      `${event.globalPosition}\t${event.streamId}\tv${event.version}\t${event.type}\t${event.recordedAt.toISOString()}\t${JSON.stringify(event.data)}`
    ), { discard: true })

const streamEvents = Command.make("stream", { streamId: Args.text({ name: "stream-id" }) }, ({ streamId }) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const events = yield* store.readStream(streamId)
    if (events.length === 0) return yield* Console.error(`no events in stream ${streamId}`)
    yield* printEvents(events)
  }).pipe(Effect.provide(StoreLive))).pipe(Command.withDescription("Print one stream's events, oldest first"))

const allEvents = Command.make("all", {
  after: Options.integer("after").pipe(Options.withDefault(0), Options.withDescription("Start after this global position")),
  limit: Options.integer("limit").pipe(Options.optional, Options.withDescription("Print at most this many"))
}, ({ after, limit }) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const events = yield* store.readAll({ afterPosition: after, limit: Option.getOrElse(limit, () => 1000) })
    yield* printEvents(events)
  }).pipe(Effect.provide(StoreLive))).pipe(Command.withDescription("Print the global log in commit-safe order"))

const events = Command.make("events").pipe(
  Command.withSubcommands([streamEvents, allEvents]),
  Command.withDescription("Read the event store")
)

const cli = Command.make("actors").pipe(
  Command.withSubcommands([serve, relay, migrate, events]),
  Command.run({ name: "event-sourced-actors", version: "0.1.0" })
)

cli(process.argv).pipe(
  Effect.provide(Layer.mergeAll(LoggingLive, NodeContext.layer).pipe(Layer.provideMerge(AppConfig.layer))),
  NodeRuntime.runMain({ disablePrettyLogger: true })
)
