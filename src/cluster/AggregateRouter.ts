/**
 * Each aggregate lives on one node of the cluster: the node that owns its shard. A command or read
 * arriving anywhere goes there, and is answered from there.
 *
 * On the owner, the aggregate's actor is this node's ActorSystem — its mailbox, group commit, read
 * coalescing and cache with its cap — called directly: a message through the cluster costs about a
 * quarter of a millisecond of CPU even on the same node, which would cost a single node a tenth to a
 * half of its throughput. For another node's aggregate, the command goes to the aggregate's entity
 * there, a thin forwarder into that node's ActorSystem. Placement, routing and failover are the
 * cluster's; the version guard on append stays the last line of defence (a node that lost its shard
 * without knowing it yet can only lose a race, never write twice).
 */
import * as Entity from "@effect/cluster/Entity"
import * as EntityId from "@effect/cluster/EntityId"
import * as Rpc from "@effect/rpc/Rpc"
import { Sharding } from "@effect/cluster/Sharding"
import { type Context, Duration, Effect, Layer, Metric, Option, Schedule, Schema, type Scope } from "effect"
import type { AggregateDefinition } from "../domain/aggregate.js"
import { durationHistogram } from "../observability/histograms.js"
import * as ActorSystem from "../runtime/ActorSystem.js"
import type { DeliveryError } from "../runtime/ActorSystem.js"
import type { CommandError, CommandOptions } from "../runtime/AggregateActor.js"
import {
  AggregateNotFound,
  AppendOutcomeUnknown,
  IdempotencyKeyReused,
  Overloaded,
  OwnerUnavailable,
  RuleViolated,
  ShuttingDown,
  StoreUnavailable,
  VersionConflict
} from "../runtime/errors.js"
import { REMOTE_DEADLINE, shardIds } from "./settings.js"

/**
 * A failure on the owner, as it crosses the wire: the error's tag and fields. Rebuilt on the caller
 * into the same error, so that the HTTP edge answers a remote refusal as it answers a local one.
 */
class RemoteFailure extends Schema.TaggedError<RemoteFailure>()("RemoteFailure", {
  tag: Schema.String,
  fields: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}) {}

type Failure = CommandError | DeliveryError

const toWire = (error: Failure) => new RemoteFailure({ tag: error._tag, fields: { ...error, message: error.message } })

const errors: Record<Failure["_tag"], new(fields: any) => Failure> = {
  AggregateNotFound,
  RuleViolated,
  VersionConflict,
  IdempotencyKeyReused,
  StoreUnavailable,
  AppendOutcomeUnknown,
  Overloaded,
  ShuttingDown,
  OwnerUnavailable
}

const fromWire = (failure: RemoteFailure): Failure => {
  const { _tag, message, ...fields } = failure.fields as { _tag?: string; message?: string }
  const make = errors[failure.tag as Failure["_tag"]]
  if (make === undefined) throw new Error(`an unknown failure came back from the aggregate's node: ${failure.tag}: ${message}`)
  return new make(message === "" || message === undefined ? fields : { ...fields, message })
}

/**
 * The aggregate type as an entity of the cluster: a command (with its options: data only, so that
 * the owner admits, guards and names it as the receiving node would) and a read. Both sides run the
 * same build, and the command was checked against its schema at the edge: the payloads go as they are.
 */
export const aggregateEntity = (streamType: string) =>
  Entity.make(streamType, [
    Rpc.make("Execute", {
      payload: { command: Schema.Unknown, options: Schema.Unknown },
      success: Schema.Unknown,
      error: RemoteFailure
    }),
    Rpc.make("Read", { success: Schema.Unknown, error: RemoteFailure })
  ])

const deliveries = Metric.counter("cluster_deliveries_total", {
  description: "Commands and reads by where their aggregate lives: this node (local) or another (remote)",
  incremental: true
})
const remoteDuration = durationHistogram(
  "cluster_remote_call_duration_seconds",
  "Commands and reads sent to the node that owns their aggregate, until its answer",
  { fromMillis: 0.5, count: 16 }
)

/** How often a node looks for cached actors whose shard another node took, to drop them. */
const EVICT_INTERVAL = Duration.millis(500)

/**
 * Routes an aggregate type's commands and reads: `local` answers those whose shard this node owns,
 * the entity's owner the rest. Registers the forwarding entity, and drops cached actors of shards
 * that moved away (a stale cache would only cost a conflict and a retry, but it costs memory too).
 */
export const route = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  local: ActorSystem.ActorSystem<State, Command, Event>,
  sharding: Context.Tag.Service<Sharding>
): Effect.Effect<ActorSystem.ActorSystem<State, Command, Event>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { streamType } = local
    const entity = aggregateEntity(streamType)

    yield* sharding.registerEntity(
      entity,
      Effect.map(Entity.CurrentAddress, ({ entityId }) =>
        entity.of({
          Execute: ({ payload }) =>
            local.execute(entityId, payload.command as Command, payload.options as CommandOptions).pipe(Effect.mapError(toWire)),
          Read: () => local.read(entityId).pipe(Effect.mapError(toWire))
        })),
      // A forwarder holds nothing: it may run any number of messages, and goes soon when idle.
      { concurrency: "unbounded", maxIdleTime: Duration.seconds(30), disableFatalDefects: true }
    )
    const client = yield* sharding.makeClient(entity)

    const isLocal = (id: string) => {
      const entityId = EntityId.make(id)
      return sharding.hasShardId(sharding.getShardId(entityId, entity.getShardGroup(entityId)))
    }
    const localDeliveries = Metric.tagged(Metric.tagged(deliveries, "stream_type", streamType), "target", "local")
    const remoteDeliveries = Metric.tagged(Metric.tagged(deliveries, "stream_type", streamType), "target", "remote")
    const remoteDurations = Metric.tagged(remoteDuration, "stream_type", streamType)

    /** The owner's answer within the deadline; the cluster's own failures as ours. */
    const remote = <A>(
      id: string,
      call: Effect.Effect<unknown, unknown>,
      onDeadline: () => Failure
    ): Effect.Effect<A, Failure> =>
      Effect.zipRight(Metric.increment(remoteDeliveries), call).pipe(
        Effect.timeoutFail({ duration: REMOTE_DEADLINE, onTimeout: onDeadline }),
        Effect.catchAll((error): Effect.Effect<never, Failure> => {
          const failure = error as { readonly _tag?: string }
          if (failure._tag === "RemoteFailure") return Effect.fail(fromWire(error as RemoteFailure))
          if (failure._tag === "MailboxFull") return Effect.fail(new Overloaded({ streamType, id, retryAfterSeconds: 1 }))
          if (typeof failure._tag === "string" && failure._tag in errors) return Effect.fail(error as Failure)
          return Effect.fail(new OwnerUnavailable({ streamType, id, message: `the node that owns ${streamType} ${id} failed: ${String(error)}` }))
        }),
        Metric.trackDurationWith(remoteDurations, Duration.toMillis)
      ) as Effect.Effect<A, Failure>

    const execute: ActorSystem.ActorSystem<State, Command, Event>["execute"] = (id, command, options) =>
      Effect.suspend(() =>
        isLocal(id)
          ? Effect.zipRight(Metric.increment(localDeliveries), local.execute(id, command, options))
          : remote(id, client(id).Execute({ command, options }), () =>
            // Sent, not answered: it may have been applied. Its name makes a retry with the same key safe.
            new AppendOutcomeUnknown({
              streamId: id,
              message: `the node that owns it did not answer within ${Duration.format(REMOTE_DEADLINE)}`
            }))
      )

    const read: ActorSystem.ActorSystem<State, Command, Event>["read"] = (id) =>
      Effect.suspend(() =>
        isLocal(id)
          ? Effect.zipRight(Metric.increment(localDeliveries), local.read(id))
          : remote(id, client(id).Read(), () =>
            new OwnerUnavailable({
              streamType,
              id,
              message: `the node that owns ${streamType} ${id} did not answer within ${Duration.format(REMOTE_DEADLINE)}; retry`
            }))
      ) as ReturnType<ActorSystem.ActorSystem<State, Command, Event>["read"]>

    // Looks at which shards this node owns; when that changed, drops the cached actors of those it lost.
    let owned = ""
    yield* Effect.suspend(() => {
      const now = shardIds.map((shard) => (sharding.hasShardId(shard) ? "1" : "0")).join("")
      const changed = now !== owned
      owned = now
      return changed ? local.passivateWhere((id) => !isLocal(id)) : Effect.void
    }).pipe(Effect.repeat(Schedule.spaced(EVICT_INTERVAL)), Effect.forkScoped)

    return { streamType, execute, read, liveActors: local.liveActors, passivateWhere: local.passivateWhere }
  })

/**
 * One aggregate type's actors under the application's tag: routed by the cluster when this process
 * runs a cluster runner (Sharding is in its context: `serve`), on this process alone otherwise (the
 * in-process runtime of the test suite and of tools that run no runner).
 */
export const layer = <Id, State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  tag: Context.Tag<Id, ActorSystem.ActorSystem<State, Command, Event>>,
  definition: AggregateDefinition<State, Command, Event>
) =>
  Layer.scoped(
    tag,
    Effect.gen(function*() {
      const local = yield* ActorSystem.make(definition)
      const sharding = yield* Effect.serviceOption(Sharding)
      return Option.isSome(sharding) ? yield* route(local, sharding.value) : local
    })
  )
