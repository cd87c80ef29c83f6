/**
 * The readiness checks of each role beyond the database (see readiness.ts), and the state each role
 * keeps for them: the relay's part in the election, the process manager's part in its feed's, the
 * projector's membership of its consumer group, the worker's link to RabbitMQ. The roles only set that state (a Ref given in their options);
 * the ops server only reads it, and asks the brokers itself.
 */
import amqp from "amqplib"
import { Context, Effect, Layer, Option, Redacted, Ref, type Scope } from "effect"
import type { Admin } from "kafkajs"
import type { BrokerLink } from "../notifications/NotificationWorker.js"
import { kafkaClient } from "../messaging/kafka.js"
import type { Role } from "../database/leadership.js"
import type { GroupMembership } from "../projections/Projector.js"
import { NotReady, type ReadinessCheck } from "./readiness.js"

const describe = (error: unknown) => error instanceof Error ? error.message : String(error)

/** This process's part in the relay election (set by OutboxRelay). */
export class RelayRoleState extends Context.Tag("app/RelayRoleState")<RelayRoleState, Ref.Ref<Role>>() {
  static readonly layer = Layer.effect(RelayRoleState, Ref.make<Role>("starting"))
}

/** This process's part in the election of the sagas' feed (set by the ProcessManager). */
export class SagaFeedRole extends Context.Tag("app/SagaFeedRole")<SagaFeedRole, Ref.Ref<Role>>() {
  static readonly layer = Layer.effect(SagaFeedRole, Ref.make<Role>("starting"))
}

/** The projector's consumer-group membership (set by Projector from the consumer's events). */
export class ProjectorMembership extends Context.Tag("app/ProjectorMembership")<ProjectorMembership, Ref.Ref<GroupMembership>>() {
  static readonly layer = Layer.effect(
    ProjectorMembership,
    Ref.make<GroupMembership>({ _tag: "NotMember", reason: "the consumer has not joined its group yet" })
  )
}

/** The notification worker's link to RabbitMQ (set by NotificationWorker). */
export class WorkerLink extends Context.Tag("app/WorkerLink")<WorkerLink, Ref.Ref<BrokerLink>>() {
  static readonly layer = Layer.effect(WorkerLink, Ref.make<BrokerLink>(Option.none()))
}

/**
 * A role elected by a lock is ready once it tried for it, active or standing by (a standby is what
 * takes over); /ready says which, under `field`.
 */
const electedCheck = <I>(tag: Context.Tag<I, Ref.Ref<Role>>, name: string, field: string, who: string) =>
  Effect.map(tag, (role): ReadinessCheck => ({
    name,
    check: Effect.flatMap(Ref.get(role), (current) =>
      current === "starting"
        ? new NotReady({ message: `${who} has not tried for its lock yet` })
        : Effect.succeed({ [field]: current }))
  }))

export const relayCheck = electedCheck(RelayRoleState, "relay", "relay", "the relay")

/** The process manager's wakers run in every process; the feed in the one elected. */
export const sagasCheck = electedCheck(SagaFeedRole, "sagas", "sagaFeed", "the process manager's feed")

export const projectorCheck = Effect.map(ProjectorMembership, (membership): ReadinessCheck => ({
  name: "projector",
  check: Effect.flatMap(Ref.get(membership), (current) =>
    current._tag === "Member"
      ? Effect.succeed({ projector: "member" })
      : new NotReady({ message: `the projector is not a member of its consumer group: ${current.reason}` }))
}))

export const workerCheck = Effect.map(WorkerLink, (link): ReadinessCheck => ({
  name: "rabbitmq",
  check: Effect.flatMap(Ref.get(link), (current) =>
    Option.match(current, {
      onNone: () => new NotReady({ message: "the worker is not connected to RabbitMQ (it reconnects)" }),
      onSome: (roundTrip) =>
        Effect.as(
          Effect.mapError(roundTrip, (error) => new NotReady({ message: `the worker's RabbitMQ connection does not answer: ${error.message}` })),
          {}
        )
    }))
}))

/**
 * A check that asks a broker something on a connection of its own: connected on first use, and
 * dropped (a new one connects next time) after any failure or timeout, so that a connection that
 * went half-open is not asked again. Closing is never waited for: closing a connection to a broker
 * that does not answer could hang too.
 */
const brokerCheck = <C>(
  name: string,
  connection: {
    readonly open: () => Promise<C>
    readonly ask: (connection: C) => Promise<unknown>
    readonly close: (connection: C) => Promise<unknown>
  }
): Effect.Effect<ReadinessCheck, never, Scope.Scope> =>
  Effect.gen(function*() {
    let current: C | undefined
    const drop = Effect.sync(() => {
      const dropped = current
      current = undefined
      if (dropped !== undefined) void connection.close(dropped).catch(() => undefined)
    })
    yield* Effect.addFinalizer(() => drop)
    const check = Effect.tryPromise({
      try: async () => {
        current ??= await connection.open()
        await connection.ask(current)
      },
      catch: (error) => new NotReady({ message: `${name} does not answer: ${describe(error)}` })
    }).pipe(Effect.onError(() => drop), Effect.as({}))
    return { name, check }
  })

/** Kafka answers a metadata request. */
export const kafkaCheck = (brokers: ReadonlyArray<string>) =>
  brokerCheck<Admin>("kafka", {
    open: async () => {
      const admin = kafkaClient(brokers, "readiness").admin()
      await admin.connect()
      return admin
    },
    ask: (admin) => admin.describeCluster(),
    close: (admin) => admin.disconnect()
  })

/** RabbitMQ answers: a channel is opened and closed. */
export const rabbitCheck = (url: Redacted.Redacted) =>
  brokerCheck<amqp.ChannelModel>("rabbitmq", {
    open: async () => {
      const connection = await amqp.connect(Redacted.value(url), { timeout: 2_000 })
      // A broken connection's errors are the next probe's failure, not a crash.
      connection.on("error", () => undefined)
      return connection
    },
    ask: async (connection) => {
      const channel = await connection.createChannel()
      await channel.close()
    },
    close: (connection) => connection.close()
  })

/** One check per name (serve's relay and projector both need Kafka to answer, once is enough). */
export const distinctByName = (checks: ReadonlyArray<ReadinessCheck>) =>
  checks.filter((check, index) => checks.findIndex((other) => other.name === check.name) === index)
