#!/usr/bin/env -S node --enable-source-maps
/**
 * The command line, `actors` (the package's bin): `serve` runs the HTTP API with the actors;
 * `migrate` applies migrations; `events` prints a stream or the global log.
 */
import { Args, Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { defaultTeardown } from "@effect/platform/Runtime"
import { Cause, Chunk, ConfigError, Console, Effect, Layer, Option, Stream } from "effect"
import cliProgress from "cli-progress"
import {
  DatabaseLive,
  ProjectorLive,
  ProjectorOpsLive,
  RelayLive,
  RelayOpsLive,
  ServeLive,
  StoreLive,
  WorkerOpsLive,
  WorkerLive
} from "../app.js"
import { projections as registeredProjections, ProjectionsLive, type RegisteredProjection } from "../projections.js"
import * as DeliveryStore from "../notifications/DeliveryStore.js"
import { listDeadLetters, requeueDeadLetters } from "../notifications/deadLetters.js"
import { startDevPushGateway } from "../notifications/DevPushGateway.js"
import { startDevPaymentProvider } from "../payments/DevPaymentProvider.js"
import { orderAggregate } from "../domain/order/index.js"
import { topology } from "../messaging/contracts.js"
import { type PointInTime, stateAt } from "../runtime/timeTravel.js"
import { AppConfig, configProblems } from "../config.js"
import { runMigrations } from "../database/migrations.js"
import { EventStore } from "../eventstore/EventStore.js"
import { defaultFeedOptions, liveEvents } from "../eventstore/liveEvents.js"
import { LoggingLive } from "../logging.js"
import { json, jsonOutput, printJson } from "./output.js"
import { quarantine } from "./quarantine.js"
import { sagas } from "./sagas.js"
import { status } from "./status.js"
import * as Tracing from "../observability/tracing.js"
import * as DevKeys from "../auth/devKeys.js"
import { roles } from "../auth/policy.js"
import { authSettings } from "../auth/TokenVerifier.js"
import { randomUUID } from "node:crypto"

/** The bad settings that stopped a command, a line each (`DATABASE_URL: must be …, got "…"`); none when it failed otherwise. */
const settingProblems = (cause: Cause.Cause<unknown>): ReadonlyArray<string> =>
  [...Chunk.toReadonlyArray(Cause.failures(cause)), ...Chunk.toReadonlyArray(Cause.defects(cause))]
    .filter(ConfigError.isConfigError)
    .flatMap(configProblems)

/**
 * Says why a command failed: a bad setting as one line on stderr, naming the variable and what a
 * good value looks like; anything else logged with its cause. An interruption (Ctrl-C) says nothing.
 */
const reportFailure = (cause: Cause.Cause<unknown>) => {
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  const problems = settingProblems(cause)
  return problems.length > 0 ? Effect.forEach(problems, (line) => Console.error(line), { discard: true }) : Effect.logError(cause)
}

/** Runs a long-lived role until it is stopped, with its tracer; says why when it stops on its own (a bad setting: `reportFailure`). */
const launch = <A, E, R>(role: string, what: string, layer: Layer.Layer<A, E, R>) =>
  Layer.launch(layer.pipe(Layer.provide(Tracing.layer(role)))).pipe(
    Effect.tapErrorCause((cause) => settingProblems(cause).length > 0 ? Effect.void : Effect.logError(`the ${what} stopped`, cause))
  )

const serve = Command.make("serve", {}, () => launch("serve", "server", ServeLive)).pipe(
  Command.withDescription("Serve the HTTP API and run the outbox relay (applies pending migrations first)")
)

const relay = Command.make("relay", {}, () => launch("relay", "relay", Layer.merge(RelayLive, RelayOpsLive))).pipe(
  Command.withDescription("Run the outbox relay alone (one process at a time is active; others stand by)")
)

const worker = Command.make("worker", {}, () => launch("worker", "worker", Layer.merge(WorkerLive, WorkerOpsLive))).pipe(
  Command.withDescription("Deliver push notifications from RabbitMQ (run as many as you like)")
)

/** Where a stand-in listens: loopback unless told (in a container, 0.0.0.0, so that other containers reach it). */
const sinkHost = Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("Address to listen on"))

const pushSink = Command.make("push-sink", {
  port: Options.integer("port").pipe(Options.withDefault(4000), Options.withDescription("Port to listen on")),
  host: sinkHost
}, ({ host, port }) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      startDevPushGateway({
        port,
        host,
        onDelivered: (push) => console.log(`push ${push.idempotencyKey} to ${push.body.to}: ${push.body.title} — ${push.body.body}`)
      })
    ),
    (gateway) => Effect.promise(() => gateway.close())
  ).pipe(
    Effect.tap((gateway) => Console.log(`push sink listening: PUSH_GATEWAY_URL=${gateway.url}`)),
    Effect.zipRight(Effect.never),
    Effect.scoped
  )).pipe(Command.withDescription("A local stand-in for a push provider that prints what it receives"))

const paymentSink = Command.make("payment-sink", {
  port: Options.integer("port").pipe(Options.withDefault(4100), Options.withDescription("Port to listen on")),
  host: sinkHost
}, ({ host, port }) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        startDevPaymentProvider({
          port,
          host,
          onEvent: (event) =>
            console.log(`${event.operation} ${event.paymentId}${event.repeat ? " (repeated key)" : ""}: ${event.outcome}`)
        }),
      catch: (cause) => new Error(`payment sink cannot listen on port ${port}: ${String(cause)}`)
    }),
    (provider) => Effect.promise(() => provider.close())
  ).pipe(
    Effect.tap((provider) => Console.log(`payment sink listening: PAYMENT_PROVIDER_URL=${provider.url}`)),
    Effect.zipRight(Effect.never),
    Effect.scoped
  )).pipe(Command.withDescription("A local stand-in for a payment provider that prints each operation"))

const names = Effect.map(AppConfig, (config) => ({ url: config.amqp.url, names: topology(config.messagingPrefix) }))

const dlqList = Command.make("list", {
  limit: Options.integer("limit").pipe(Options.withDefault(50), Options.withDescription("List at most this many")),
  json
}, ({ json, limit }) =>
  Effect.gen(function*() {
    const { url, names: topology_ } = yield* names
    const letters = yield* listDeadLetters(url, topology_, limit)
    if (json) return yield* printJson(letters)
    if (letters.length === 0) return yield* Console.log(`${topology_.deadLetterQueue} is empty`)
    for (const letter of letters) {
      yield* Console.log(`${letter.eventId}\t${letter.routingKey}\tattempts=${letter.attempts}\t${letter.deadLetteredAt}\t${letter.reason}`)
    }
  }).pipe(jsonOutput(json))).pipe(Command.withDescription("List dead-lettered tasks: event id, routing key, attempts, when, why"))

const dlqRequeue = Command.make("requeue", {
  all: Options.boolean("all").pipe(Options.withDescription("Re-queue every dead-lettered task")),
  eventIds: Args.text({ name: "event-id" }).pipe(Args.repeated)
}, ({ all, eventIds }) =>
  Effect.gen(function*() {
    if (!all && eventIds.length === 0) return yield* Console.error("name the event ids to re-queue, or pass --all")
    const { url, names: topology_ } = yield* names
    const requeued = yield* requeueDeadLetters(url, topology_, all ? undefined : eventIds)
    yield* Console.log(`re-queued ${requeued.length} task(s)${requeued.length > 0 ? `: ${requeued.join(", ")}` : ""}`)
  }).pipe(Effect.provide(DeliveryStore.layer), Effect.provide(DatabaseLive))).pipe(
  Command.withDescription("Send dead-lettered tasks back to the push queue with fresh attempts")
)

const dlq = Command.make("dlq").pipe(
  Command.withSubcommands([dlqList, dlqRequeue]),
  Command.withDescription("The push-notification dead-letter queue")
)

const project = Command.make("project", {}, () =>
  launch("project", "projector", Layer.merge(ProjectorLive, ProjectorOpsLive))
).pipe(Command.withDescription("Run the projector alone: every registered projection, each its own consumer group (run as many as you like)"))

/** Rebuilds one projection, with a progress bar; says how long it took. */
const rebuildOne = (projection: RegisteredProjection) =>
  Effect.gen(function*() {
    const bar = new cliProgress.SingleBar({
      format: `rebuilding ${projection.name} {bar} {percentage}% | {value}/{total} events | {speed} events/s | {eta_formatted} left`,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 2_000
    }, cliProgress.Presets.shades_classic)
    const started = Date.now()
    bar.start(1, 0, { speed: 0 })
    const result = yield* projection.rebuild(({ done, total }) => {
      bar.setTotal(Math.max(total, 1))
      bar.update(done, { speed: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)) })
    }).pipe(Effect.ensuring(Effect.sync(() => bar.stop())))
    yield* Console.log(`${projection.name} rebuilt from ${result.events} events in ${((Date.now() - started) / 1000).toFixed(1)} s and swapped in`)
  })

const rebuild = Command.make("rebuild", {
  names: Args.choice(registeredProjections.map((projection) => [projection.name, projection.name] as const), { name: "projection" }).pipe(
    Args.repeated,
    Args.withDescription("The projections to rebuild, one after another (default: every registered one)")
  )
}, ({ names }) =>
  Effect.forEach(
    registeredProjections.filter((projection) => names.length === 0 || names.includes(projection.name)),
    rebuildOne,
    { discard: true }
  ).pipe(Effect.provide(ProjectionsLive), Effect.provide(StoreLive))).pipe(
  Command.withDescription("Replay the event store into a new table, catch up, and swap it in; queries go on meanwhile")
)

const projections = Command.make("projections").pipe(
  Command.withSubcommands([rebuild]),
  Command.withDescription("Read models")
)

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

const streamEvents = Command.make("stream", { streamId: Args.text({ name: "stream-id" }), json }, ({ json, streamId }) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const events = yield* store.readStream(streamId)
    if (json) return yield* printJson(events)
    if (events.length === 0) return yield* Console.error(`no events in stream ${streamId}`)
    yield* printEvents(events)
  }).pipe(Effect.provide(StoreLive), jsonOutput(json))).pipe(Command.withDescription("Print one stream's events, oldest first"))

const allEvents = Command.make("all", {
  after: Options.integer("after").pipe(Options.withDefault(0), Options.withDescription("Start after this global position")),
  limit: Options.integer("limit").pipe(Options.optional, Options.withDescription("Print at most this many")),
  json
}, ({ after, json, limit }) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const events = yield* store.readAll({ afterPosition: after, limit: Option.getOrElse(limit, () => 1000) })
    yield* json ? printJson(events) : printEvents(events)
  }).pipe(Effect.provide(StoreLive), jsonOutput(json))).pipe(Command.withDescription("Print the global log in commit-safe order"))

const tail = Command.make("tail", {
  after: Options.integer("after").pipe(
    Options.optional,
    Options.withDescription("Start after this global position (0: the start); default: the log's head with --follow, else 0")
  ),
  follow: Options.boolean("follow").pipe(Options.withAlias("f"), Options.withDescription("Keep printing new events as they commit")),
  type: Options.text("type").pipe(Options.repeated, Options.withDescription("Only events of this type (repeatable)")),
  streamType: Options.text("stream-type").pipe(Options.repeated, Options.withDescription("Only streams of this type (repeatable)")),
  json
}, ({ after, follow, json, streamType, type }) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const from = Option.isSome(after) ? after.value : follow ? yield* store.headPosition : 0
    if (follow) yield* Console.error(`following the log after position ${from} (Ctrl-C stops)`)
    yield* liveEvents(store, from, { types: type, streamTypes: streamType }, { ...defaultFeedOptions, follow }).pipe(
      Stream.filterMap((item) => item._tag === "Event" ? Option.some(item.event) : Option.none()),
      // One JSON document per line with --json (for jq), as events come.
      Stream.runForEach((event) => json ? Effect.sync(() => void process.stdout.write(`${JSON.stringify(event)}\n`)) : printEvents([event]))
    )
  }).pipe(Effect.provide(StoreLive), jsonOutput(json))).pipe(
    Command.withDescription("Print the log in commit-safe order, filtered; with --follow, keep printing as events commit (Ctrl-C stops)")
  )

const orderState = Command.make("state", {
  orderId: Args.text({ name: "order-id" }),
  atVersion: Options.integer("at-version").pipe(Options.optional, Options.withDescription("As it was after this version")),
  at: Options.text("at").pipe(Options.optional, Options.withDescription("As it was at this ISO-8601 moment")),
  // The state is JSON either way (and alone on stdout); --json is taken too, as by every command that reads something.
  json
}, ({ at, atVersion, orderId }) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const moment = Option.map(at, (text) => new Date(text))
    if (Option.exists(moment, (date) => Number.isNaN(date.getTime()))) return yield* Console.error("--at must be an ISO-8601 timestamp")
    const point: PointInTime = Option.isSome(atVersion)
      ? { _tag: "AtVersion", version: atVersion.value }
      : { _tag: "At", moment: Option.getOrElse(moment, () => new Date(8.64e15)) }
    const snapshot = yield* stateAt(orderAggregate, store, orderId, point)
    if (snapshot.version === 0) return yield* Console.error(`order ${orderId} has no history at that point`)
    yield* printJson({ version: snapshot.version, state: snapshot.state })
  }).pipe(Effect.provide(StoreLive), jsonOutput(true))).pipe(Command.withDescription("Print an order's state, now or as it was (time travel)"))

const events = Command.make("events").pipe(
  Command.withSubcommands([streamEvents, allEvents, tail, orderState]),
  Command.withDescription("Read the event store")
)

const token = Command.make("token", {
  role: Options.choice("role", roles).pipe(Options.withDescription("The role the token grants")),
  subject: Options.text("subject").pipe(
    Options.optional,
    Options.withDescription("Who the token is for: for a customer, the customer id (a UUID); a new UUID when not given")
  ),
  ttl: Options.integer("ttl-seconds").pipe(Options.withDefault(3600), Options.withDescription("How long the token is valid"))
}, ({ role, subject, ttl }) =>
  Effect.gen(function*() {
    const settings = yield* authSettings
    if (settings._tag !== "Dev") {
      return yield* Effect.fail(
        new Error(`token signs with the development key, but AUTH_MODE is ${settings._tag.toLowerCase()}: get tokens from your identity provider`)
      )
    }
    const { key } = yield* DevKeys.loadOrCreate(settings.keyFile)
    const who = Option.getOrElse(subject, () => randomUUID())
    if (Option.isNone(subject)) yield* Console.error(`subject: ${who}`)
    // Only the token on stdout, so that TOKEN=$(make token ...) works.
    yield* Console.log(yield* DevKeys.signToken(key, {
      issuer: settings.issuer,
      audience: settings.audience,
      subject: who,
      roles: [role],
      rolesClaim: settings.rolesClaim,
      ttlSeconds: ttl
    }))
  })).pipe(Command.withDescription("Print a bearer token signed with the development key (development only)"))

const cli = Command.make("actors").pipe(
  Command.withSubcommands([serve, relay, worker, project, projections, pushSink, paymentSink, dlq, quarantine, sagas, migrate, events, token, status]),
  Command.run({ name: "event-sourced-actors", version: "0.1.0" })
)

cli(process.argv).pipe(
  Effect.provide(Layer.mergeAll(LoggingLive, NodeContext.layer).pipe(Layer.provideMerge(AppConfig.layer))),
  Effect.tapErrorCause(reportFailure),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    // reportFailure says why instead: a bad setting in one line rather than a logged cause.
    disableErrorReporting: true,
    // The process ends with its command, as a command line tool should: a client that a command
    // gave up on (status, say, after a broker did not answer in time) must not keep it running.
    teardown: (exit, onExit) =>
      defaultTeardown(exit, (code) => {
        onExit(code)
        process.exit(code)
      })
  })
)
