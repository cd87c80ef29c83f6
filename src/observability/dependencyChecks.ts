/**
 * The readiness checks of each role beyond the database (see readiness.ts), and the state each role
 * keeps for them: the relay's part in the election, the projector's membership of its consumer
 * group, the worker's link to RabbitMQ. The roles only set that state (a Ref given in their options);
 * the ops server only reads it, and asks the brokers itself.
 */
import amqp from "amqplib"
import { Context, Effect, Layer, Option, Redacted, Ref, type Scope } from "effect"
import type { Admin } from "kafkajs"
import type { BrokerLink } from "../notifications/NotificationWorker.js"
import { kafkaClient } from "../outbox/KafkaPublisher.js"
import type { RelayRole } from "../outbox/OutboxRelay.js"
import type { GroupMembership } from "../projections/Projector.js"
import { NotReady, type ReadinessCheck } from "./readiness.js"

const describe = (error: unknown) => error instanceof Error ? error.message : String(error)

/** This process's part in the relay election (set by OutboxRelay). */
export class RelayRoleState extends Context.Tag("app/RelayRoleState")<RelayRoleState, Ref.Ref<RelayRole>>() {
  static readonly layer = Layer.effect(RelayRoleState, Ref.make<RelayRole>("starting"))
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

/** Active and standby relays are both ready: a standby is what takes over. /ready says which. */
export const relayCheck = Effect.map(RelayRoleState, (role): ReadinessCheck => ({
  name: "relay",
  check: Effect.flatMap(Ref.get(role), (current) =>
    current === "starting"
      ? new NotReady({ message: "the relay has not tried for its lock yet" })
      : Effect.succeed({ relay: current }))
}))

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
 * Kafka answers a metadata request. One admin client serves the probes; it is dropped (and a new one
 * connects next time) after any failure or timeout, so that a connection that went half-open is not
 * asked again.
 */
export const kafkaCheck = (brokers: ReadonlyArray<string>): Effect.Effect<ReadinessCheck, never, Scope.Scope> =>
  Effect.gen(function*() {
    let admin: Admin | undefined
    // Never waited for: disconnecting from a broker that does not answer could hang too.
    const drop = Effect.sync(() => {
      const current = admin
      admin = undefined
      void current?.disconnect().catch(() => undefined)
    })
    yield* Effect.addFinalizer(() => drop)
    const check = Effect.tryPromise({
      try: async () => {
        if (admin === undefined) {
          const fresh = kafkaClient(brokers, "readiness").admin()
          admin = fresh
          await fresh.connect()
        }
        await admin.describeCluster()
      },
      catch: (error) => new NotReady({ message: `kafka does not answer: ${describe(error)}` })
    }).pipe(Effect.onError(() => drop), Effect.as({}))
    return { name: "kafka", check }
  })

/**
 * RabbitMQ answers: a channel opened and closed on a connection of the probe's own, connected on
 * first use, and again after any failure or timeout.
 */
export const rabbitCheck = (url: Redacted.Redacted): Effect.Effect<ReadinessCheck, never, Scope.Scope> =>
  Effect.gen(function*() {
    let connection: amqp.ChannelModel | undefined
    const drop = Effect.sync(() => {
      const current = connection
      connection = undefined
      void current?.close().catch(() => undefined)
    })
    yield* Effect.addFinalizer(() => drop)
    const check = Effect.tryPromise({
      try: async () => {
        if (connection === undefined) {
          const fresh = await amqp.connect(Redacted.value(url), { timeout: 2_000 })
          // A broken connection is dropped; its errors are the next probe's failure, not a crash.
          fresh.on("error", () => undefined)
          fresh.on("close", () => {
            if (connection === fresh) connection = undefined
          })
          connection = fresh
        }
        const channel = await connection.createChannel()
        await channel.close()
      },
      catch: (error) => new NotReady({ message: `rabbitmq does not answer: ${describe(error)}` })
    }).pipe(Effect.onError(() => drop), Effect.as({}))
    return { name: "rabbitmq", check }
  })

/** One check per name (serve's relay and projector both need Kafka to answer, once is enough). */
export const distinctByName = (checks: ReadonlyArray<ReadinessCheck>) =>
  checks.filter((check, index) => checks.findIndex((other) => other.name === check.name) === index)
