/**
 * How the pieces are wired: settings → database pool → migrations → event store → actor systems,
 * and on them the HTTP API and the process manager (sagas); beside them the outbox relay, the
 * projector and the notification worker. Each
 * layer constant is built once; the CLI picks the ones a command needs (`serve`: API, relay and
 * projector; `relay`, `project`, `worker`: one each).
 */
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { Duration, Effect, Layer, Option, type Scope } from "effect"
import { AggregatesLive, FulfilmentSagas, streamTypes } from "./aggregates.js"
import * as Cluster from "./cluster/ClusterLive.js"
import { AppConfig, type AppConfigShape } from "./config.js"
import * as PgDatabase from "./database/PgDatabase.js"
import { runMigrations } from "./database/migrations.js"
import { checkCommitOrder } from "./eventstore/commitOrderGuard.js"
import * as PgEventStore from "./eventstore/PgEventStore.js"
import * as ApiServer from "./http/server.js"
import * as DeliveryStore from "./notifications/DeliveryStore.js"
import * as NotificationWorker from "./notifications/NotificationWorker.js"
import * as PushGateway from "./notifications/PushGateway.js"
import * as OrderSummaries from "./projections/OrderSummaries.js"
import * as Projector from "./projections/Projector.js"
import { projections, ProjectionsLive } from "./projections.js"
import * as OpsServer from "./observability/opsServer.js"
import {
  distinctByName,
  kafkaCheck,
  ProjectorMembership,
  projectorCheck,
  rabbitCheck,
  RelayRoleState,
  SagaFeedRole,
  sagasCheck,
  relayCheck,
  WorkerLink,
  workerCheck
} from "./observability/dependencyChecks.js"
import type { ReadinessCheck } from "./observability/readiness.js"
import * as KafkaPublisher from "./messaging/KafkaPublisher.js"
import { topology } from "./messaging/contracts.js"
import { createTopicsAtStartup } from "./messaging/kafka.js"
import * as OutboxRelay from "./outbox/OutboxRelay.js"
import * as OutboxStore from "./outbox/OutboxStore.js"
import * as RabbitPublisher from "./messaging/RabbitPublisher.js"
import * as QuarantineStore from "./quarantine/QuarantineStore.js"
import * as PaymentProvider from "./payments/PaymentProvider.js"
import { fulfilmentDefinitions } from "./processes/fulfilment/index.js"
import { fulfilmentSteps } from "./processes/fulfilment/steps.js"
import { makeProcessManager } from "./processes/ProcessManager.js"
import * as ProcessStore from "./processes/ProcessStore.js"

export const DatabaseLive = Layer.unwrapEffect(Effect.map(AppConfig, (config) => PgDatabase.layer(config.database)))

/** Applies pending migrations while the layer builds: nothing reads or writes before the schema is there. */
export const MigrationsLive = Layer.effectDiscard(Effect.orDie(runMigrations())).pipe(Layer.provide(NodeContext.layer))

export const StoreLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => PgEventStore.layerWith(config.database))
).pipe(
  Layer.provide(MigrationsLive),
  Layer.provideMerge(DatabaseLive)
)

export const RuntimeLive = AggregatesLive.pipe(Layer.provideMerge(StoreLive))

/**
 * This process as a node of the cluster (`serve`): with it in their context, the aggregates' actors
 * are routed by the cluster (see AggregateRouter.layer); without it (the in-process runtime of the
 * tests), each process decides every aggregate itself.
 */
export const ClusterLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    Cluster.layer({
      host: config.cluster.runnerHost,
      port: config.cluster.runnerPort,
      listenHost: Option.getOrElse(config.cluster.listenHost, () => config.cluster.runnerHost)
    }, Option.getOrElse(config.cluster.databaseUrl, () => config.database.url)))
)

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
      KafkaPublisher.layer({
        ...kafkaTopics(config),
        sendTimeout: Duration.seconds(30),
        transactionalId: topology(config.messagingPrefix).relayTransactionalId,
        positionTopic: topology(config.messagingPrefix).relayPositionTopic
      }),
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
    const role = yield* RelayRoleState
    yield* checkCommitOrder.pipe(Effect.orDieWith((refused) => new Error(refused.message)))
    yield* Effect.forkScoped(createTopicsAtStartup(kafkaTopics(config)))
    yield* Effect.forkScoped(OutboxRelay.run({
      names: topology(config.messagingPrefix),
      batchSize: config.outbox.batchSize,
      pollInterval: config.outbox.pollInterval,
      retention: config.outbox.retention,
      crashAfterPublish: Option.getOrUndefined(config.outbox.crashAfterPublish),
      role
    }))
  })
).pipe(Layer.provide([OutboxStore.layer, QuarantineStore.layer, PublishersLive, RelayRoleState.layer]), Layer.provide(StoreLive))

/**
 * The ops server (/health, /ready, /metrics) of a process, on its port and OPS_HOST; /ready asks the
 * database and `checks` (built for the server's lifetime: the broker probes hold a connection).
 */
const opsServer = <R>(
  name: string,
  port: (config: AppConfigShape) => number,
  checks: (config: AppConfigShape) => Effect.Effect<ReadonlyArray<ReadinessCheck>, never, R | Scope.Scope> = () => Effect.succeed([])
) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const config = yield* AppConfig
    return OpsServer.layer({ name, port: port(config), host: config.ops.host, checks: distinctByName(yield* checks(config)) })
  }))

/** The relay is ready when its brokers answer, active or standing by (/ready says which). */
const relayChecks = (config: AppConfigShape) =>
  Effect.all([kafkaCheck(config.kafka.brokers), rabbitCheck(config.amqp.url), relayCheck])

/** The projector is ready when Kafka answers and its consumer is in its group. */
const projectorChecks = (config: AppConfigShape) => Effect.all([kafkaCheck(config.kafka.brokers), projectorCheck])

/** The HTTP API on the actors it is given. */
const ApiLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    ApiServer.layer({
      port: config.http.port,
      maxBodyBytes: config.http.maxBodyBytes,
      corsOrigins: config.http.corsOrigins,
      accessLogLevel: config.http.accessLogLevel
    }))
).pipe(Layer.provide(OrderSummaries.layer), Layer.provide(NodeContext.layer))

/** The HTTP API on this process's own actors (no cluster: the test suite's). */
export const HttpLive = ApiLive.pipe(Layer.provide(RuntimeLive))

/** The payment provider named by PAYMENT_PROVIDER_URL; without it every call fails, and says why. */
const PaymentProviderLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* AppConfig
    if (Option.isSome(config.payments.providerUrl)) {
      return PaymentProvider.layerHttp({ url: config.payments.providerUrl.value, timeout: config.payments.timeout })
    }
    yield* Effect.logWarning(
      "PAYMENT_PROVIDER_URL is not set: payments are not taken (their steps fail and wait). For a local stand-in, run " +
        "`make payment-sink` and set PAYMENT_PROVIDER_URL=http://127.0.0.1:4100"
    )
    return PaymentProvider.layerUnconfigured("PAYMENT_PROVIDER_URL is not set")
  })
).pipe(Layer.provide(NodeHttpClient.layerUndici))

/**
 * The process manager (the fulfilment saga) as background fibers, on the actors it is given: its
 * wakers in every process that runs it, its feed in one of them at a time.
 */
const SagasOn = Layer.scopedDiscard(
  Effect.gen(function*() {
    const config = yield* AppConfig
    const manager = yield* makeProcessManager({
      definitions: fulfilmentDefinitions(config),
      sagas: yield* FulfilmentSagas,
      handlers: yield* fulfilmentSteps
    }, {
      pollInterval: config.sagas.pollInterval,
      batchSize: 256,
      concurrency: config.sagas.concurrency,
      // Longer than any step's attempt: a provider call's timeout, plus the step's own.
      lease: Duration.sum(Duration.sum(config.payments.timeout, config.sagas.stepTimeout), Duration.seconds(5)),
      feed: true,
      retention: config.sagas.retention,
      role: yield* SagaFeedRole,
      crashAt: Option.getOrUndefined(Option.map(config.sagas.crashAt, (value) => {
        const [kind, moment] = value.split(":") as [string, "before" | "after"]
        return { kind, moment }
      }))
    })
    yield* Effect.forkScoped(manager.run)
  })
).pipe(Layer.provide([ProcessStore.layer, PaymentProviderLive, SagaFeedRole.layer]))

/** The process manager on this process's own actors (no cluster: the test suite's). */
export const SagasLive = SagasOn.pipe(Layer.provideMerge(RuntimeLive))

/** `serve`'s ops server, on OPS_PORT; ready when the relay and the projector it runs are too. */
export const ServeOpsLive = opsServer("serve", (config) => config.ops.port, (config) =>
  Effect.map(
    Effect.all([
      config.outbox.relayEnabled ? relayChecks(config) : Effect.succeed([]),
      config.projections.projectorEnabled ? projectorChecks(config) : Effect.succeed([]),
      config.sagas.enabled ? Effect.map(sagasCheck, (check) => [check]) : Effect.succeed([])
    ]),
    (checks) => checks.flat()
  )).pipe(Layer.provide([DatabaseLive, RelayRoleState.layer, ProjectorMembership.layer, SagaFeedRole.layer]))

/** A standalone relay's ops server, on RELAY_PORT. */
export const RelayOpsLive = opsServer("relay", (config) => config.outbox.port, relayChecks).pipe(
  Layer.provide([DatabaseLive, RelayRoleState.layer])
)

/** The push gateway named by PUSH_GATEWAY_URL; without it the worker does not start, and says why. */
const PushGatewayLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* AppConfig
    if (Option.isNone(config.pushGatewayUrl)) {
      return yield* Effect.dieMessage(
        "PUSH_GATEWAY_URL is not set: the worker POSTs notifications there. For a local stand-in, run " +
          "`make push-sink` (or `node dist/cli/main.js push-sink --port 4000`) and set " +
          "PUSH_GATEWAY_URL=http://127.0.0.1:4000/push"
      )
    }
    return PushGateway.layerHttp({
      url: config.pushGatewayUrl.value,
      timeout: config.worker.pushTimeout,
      token: Option.getOrUndefined(config.pushGatewayToken)
    })
  })
).pipe(Layer.provide(NodeHttpClient.layerUndici))

/** The notification worker as a background fiber (`worker`); any number of processes may run it. */
export const WorkerLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const config = yield* AppConfig
    const worker = config.worker
    const link = yield* WorkerLink
    yield* Effect.forkScoped(NotificationWorker.run({
      url: config.amqp.url,
      names: topology(config.messagingPrefix),
      streamTypes,
      prefetch: worker.prefetch,
      concurrency: worker.concurrency,
      maxAttempts: worker.maxAttempts,
      retryBaseDelay: worker.retryBaseDelay,
      // Half of it covers a push that runs into its timeout, and recording the outcome.
      claimLease: Duration.sum(Duration.times(worker.pushTimeout, 2), Duration.seconds(5)),
      confirmTimeout: Duration.seconds(10),
      sweep: { interval: worker.sweepInterval, grace: worker.sweepGrace, batchSize: worker.sweepBatch },
      deliveryRetention: worker.deliveryRetention,
      crashAfterPush: worker.crashAfterPush,
      crashBeforeAck: worker.crashBeforeAck,
      link
    }))
  })
).pipe(
  Layer.provide([DeliveryStore.layer, PushGatewayLive, WorkerLink.layer]),
  Layer.provide(MigrationsLive),
  Layer.provideMerge(DatabaseLive)
)

/** A worker process's ops server, on WORKER_PORT; ready when its own RabbitMQ connection answers. */
export const WorkerOpsLive = opsServer("worker", (config) => config.worker.port, () => Effect.map(workerCheck, (check) => [check])).pipe(
  Layer.provide([DatabaseLive, WorkerLink.layer])
)

/**
 * The projector as background fibers: each registered projection (src/projections.ts) a consumer
 * group of its own on its stream types' topics, after making sure the topics exist (it subscribes to
 * them). Any number of processes may run it: each group shares its topics' partitions out. The
 * process is a member of its groups (/ready) when every projection's consumer is.
 */
export const ProjectorLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const config = yield* AppConfig
    const report = yield* Projector.reportMembershipOfAll(projections.map((projection) => projection.name), yield* ProjectorMembership)
    yield* createTopicsAtStartup(kafkaTopics(config)).pipe(
      Effect.zipRight(Effect.forEach(projections, (projection) =>
        Projector.run(projection, {
          brokers: config.kafka.brokers,
          prefix: config.messagingPrefix,
          lagWarning: config.projections.lagWarning,
          onMembership: report(projection.name)
        }).pipe(
          Effect.tapErrorCause((cause) => Effect.logError("the projector stopped", cause)),
          Effect.annotateLogs({ projection: projection.name })
        ), { concurrency: "unbounded", discard: true })),
      Effect.forkScoped
    )
  })
).pipe(Layer.provide([ProjectionsLive, QuarantineStore.layer, ProjectorMembership.layer]), Layer.provide(StoreLive))

/** A standalone projector's ops server, on PROJECTOR_PORT. */
export const ProjectorOpsLive = opsServer("projector", (config) => config.projections.port, projectorChecks).pipe(
  Layer.provide([DatabaseLive, ProjectorMembership.layer])
)

/**
 * `serve`: a node of the cluster — the HTTP API and the process manager on its actors, routed to the
 * node that owns each aggregate — with the outbox relay and the projector (each can be switched off).
 */
export const ServeLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) => {
    // The process manager first: it fixes where its feed starts before the API takes a command.
    const onActors = (config.sagas.enabled ? ApiLive.pipe(Layer.provide(SagasOn)) : ApiLive).pipe(Layer.provide(RuntimeLive))
    return Layer.mergeAll(
      config.cluster.enabled ? onActors.pipe(Layer.provide(ClusterLive)) : onActors,
      ServeOpsLive,
      config.outbox.relayEnabled ? RelayLive : Layer.empty,
      config.projections.projectorEnabled ? ProjectorLive : Layer.empty
    )
  })
)
