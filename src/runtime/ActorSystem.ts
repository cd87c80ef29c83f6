/**
 * One actor per aggregate id: a bounded mailbox, and a fiber that takes its messages one at a time
 * while there are any.
 *
 * An actor is a cache entry: its aggregate's id and state, and a mailbox that is empty while it is
 * idle. A fiber is started when a message arrives at an idle actor and ends when the mailbox is empty
 * again, so a hundred thousand cached aggregates cost their states and no fibers. Cached actors are
 * passivated (their state dropped) when idle for `idleTimeout`, or, when more than `maxActors` are
 * cached, least recently used first. Only an idle actor is passivated, so no accepted command is
 * ever dropped. The registry, the mailboxes and the running flags are changed only in synchronous
 * sections, which JavaScript runs without interleaving: an offer and the decision to stop a fiber or
 * passivate an actor can never cross. On shutdown the mailboxes close to new commands, the running
 * fibers finish what they accepted, and then the scope ends.
 */
import {
  Clock,
  Config,
  type Context,
  Duration,
  Effect,
  Exit,
  FiberSet,
  Layer,
  Metric,
  Option,
  Schedule,
  type Scope
} from "effect"
import { durationHistogram } from "../observability/histograms.js"
import { AppConfig, type RuntimeSettings } from "../config.js"
import type { AggregateDefinition } from "../domain/aggregate.js"
import { currentTraceContext } from "../observability/traceContext.js"
import { EventStore, type EventStoreShape } from "../eventstore/EventStore.js"
import {
  type ActorState,
  type AggregateSnapshot,
  type CommandError,
  type CommandOptions,
  type CommandResult,
  makeAggregateActor,
  type SnapshotPolicy
} from "./AggregateActor.js"
import { Overloaded, type OwnerUnavailable, ShuttingDown, type StoreUnavailable } from "./errors.js"

export interface ActorSystem<State, Command, Event> {
  readonly streamType: string
  /** Runs a command through the aggregate's actor; answers once its events are durable (or it was refused). */
  readonly execute: (
    id: string,
    command: Command,
    options: CommandOptions
  ) => Effect.Effect<CommandResult<State, Event>, CommandError | DeliveryError>
  /** The aggregate's current state and version, as its actor holds it (version 0: no history). */
  readonly read: (id: string) => Effect.Effect<AggregateSnapshot<State>, StoreUnavailable | DeliveryError>
  readonly liveActors: Effect.Effect<number>
  /** Passivates the idle cached actors whose id matches (their shard moved to another node, say); gives how many. */
  readonly passivateWhere: (matches: (id: string) => boolean) => Effect.Effect<number>
}

/** Why a message did not reach its actor: its mailbox is full, this node is stopping, or the node that owns it could not be asked. */
export type DeliveryError = Overloaded | ShuttingDown | OwnerUnavailable

/** How an actor answers a message: with its exit, once. */
type Reply<A, E> = (exit: Exit.Exit<A, E>) => void

type Envelope =
  /** Anything else for the actor to do alone, in turn. */
  | { readonly _tag: "Run"; readonly run: (actor: Behavior) => Effect.Effect<void> }
  /** A read: reads waiting together are answered by one look at the stream's head. */
  | { readonly _tag: "Read"; readonly reply: Reply<AggregateSnapshot<any>, StoreUnavailable> }
  /** A plain command (no expected version, no idempotency key): it may be decided with its neighbours. */
  | {
    readonly _tag: "Command"
    readonly command: any
    readonly options: CommandOptions
    readonly reply: Reply<CommandResult<any, any>, CommandError>
  }

/** Commands decided together at most, when that many are waiting. */
const MAX_BATCH = 256

type Behavior = ReturnType<typeof makeAggregateActor<any, any, any>>

interface ActorCell extends ActorState<any> {
  /** Messages accepted and not yet taken; empty while idle. */
  mailbox: Array<Envelope>
  /** Whether a fiber is taking this actor's messages. */
  running: boolean
  lastActive: number
}

const commandsTotal = Metric.counter("actor_commands_total", {
  description: "Commands handled by actors, by aggregate type and outcome",
  incremental: true
})
const commandDuration = durationHistogram(
  "actor_command_duration_seconds",
  "Time from a command's arrival in the mailbox to its answer",
  { fromMillis: 0.5, count: 14 }
)
const cachedActors = Metric.gauge("actors_cached", {
  description: "Actors cached (state in memory), by aggregate type; a fiber runs only for those with messages waiting"
})
const passivations = Metric.counter("actor_passivations_total", {
  description: "Actors stopped for idleness or to stay under the live-actor cap",
  incremental: true
})

export const makeActorSystem = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  store: EventStoreShape,
  settings: RuntimeSettings
): Effect.Effect<ActorSystem<State, Command, Event>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { streamType } = definition
    // Read in synchronous sections (the registry is changed only there), from Effect's clock so that
    // a test clock drives passivation too.
    const clock = yield* Effect.clock
    /** Insertion order is recency order: a touched actor is moved to the end. */
    const cells = new Map<string, ActorCell>()
    const fibers = yield* FiberSet.make<void, never>()
    const runFork = yield* FiberSet.runtime(fibers)<never>()
    let stopping = false

    // Tagged once: tagging a metric makes a new key, hashed on every update.
    const durations = Metric.tagged(commandDuration, "stream_type", streamType)
    const counters = new Map<string, Metric.Metric.Counter<number>>()
    const commandsBy = (outcome: string) => {
      let counter = counters.get(outcome)
      if (counter === undefined) {
        counter = Metric.tagged(Metric.tagged(commandsTotal, "stream_type", streamType), "outcome", outcome)
        counters.set(outcome, counter)
      }
      return counter
    }

    /** Counts passivations made in synchronous sections; flushed to the metric by the next effect. */
    let passivatedSinceFlush = 0
    const passivateIfIdle = (cell: ActorCell) => {
      if (cell.running) return
      cells.delete(cell.id)
      passivatedSinceFlush++
    }
    const flushPassivations = Effect.suspend(() => {
      const n = passivatedSinceFlush
      passivatedSinceFlush = 0
      return n > 0 ? Metric.incrementBy(passivations, n) : Effect.void
    })

    const snapshotPolicy: SnapshotPolicy = {
      // The operator's setting when given, else what the aggregate declares; without either, none.
      every: settings.snapshotEvery ?? definition.snapshots?.every ?? 0,
      background: (effect) => void runFork(effect)
    }

    /**
     * Takes the actor's messages until its mailbox is empty, then ends. The behaviour is made for this
     * run only: between runs an actor is its id and its state.
     */
    const runActor = (cell: ActorCell) => {
      const behavior = makeAggregateActor(definition, store, cell, settings.conflictRetries, snapshotPolicy)
      // Everything waiting is taken at once; runs of plain commands are decided together.
      const handle = (envelopes: ReadonlyArray<Envelope>): Effect.Effect<void> =>
        Effect.gen(function*() {
          let i = 0
          while (i < envelopes.length) {
            const envelope = envelopes[i]!
            if (envelope._tag === "Run") {
              yield* envelope.run(behavior)
              i++
              continue
            }
            if (envelope._tag === "Read") {
              // Every read here arrived before this look at the store: the state it gets is at least
              // as new as the stream was when it asked.
              const exit = yield* Effect.exit(behavior.read)
              for (; i < envelopes.length && envelopes[i]!._tag === "Read"; i++) {
                const waiting = envelopes[i] as Extract<Envelope, { _tag: "Read" }>
                waiting.reply(exit)
              }
              continue
            }
            const batch: Array<Extract<Envelope, { _tag: "Command" }>> = []
            while (i < envelopes.length && envelopes[i]!._tag === "Command" && batch.length < MAX_BATCH) {
              batch.push(envelopes[i] as Extract<Envelope, { _tag: "Command" }>)
              i++
            }
            const exits = yield* Effect.exit(behavior.executeBatch(batch))
            // A defect (a stored event this code cannot read, say) answers every command of the batch
            // with it, and the cache goes: the next message loads the actor afresh.
            if (Exit.isFailure(exits)) cell.current = undefined
            for (let j = 0; j < batch.length; j++) {
              batch[j]!.reply(Exit.isSuccess(exits) ? exits.value[j]! : exits as Exit.Exit<never, never>)
            }
          }
        })
      /** The waiting messages, or none — and then, in the same synchronous step, the fiber is done. */
      const takeAll = Effect.sync(() => {
        const taken = cell.mailbox
        if (taken.length === 0) {
          cell.running = false
          cell.lastActive = clock.unsafeCurrentTimeMillis()
        } else {
          cell.mailbox = []
        }
        return taken
      })
      return Effect.iterate(true as boolean, {
        while: (more) => more,
        body: () =>
          Effect.flatMap(takeAll, (taken) => taken.length === 0 ? Effect.succeed(false) : Effect.as(handle(taken), true))
      })
    }

    /** Finds or caches the actor and hands it the envelope, all in one synchronous step. */
    const deliver = (id: string, envelope: Envelope): "accepted" | "full" | "stopping" => {
      if (stopping) return "stopping"
      let cell = cells.get(id)
      if (cell === undefined) {
        cell = { id, current: undefined, mailbox: [], running: false, lastActive: 0 }
        cells.set(id, cell)
      } else {
        cells.delete(id)
        cells.set(id, cell)
      }
      if (cell.mailbox.length >= settings.mailboxCapacity) return "full"
      cell.mailbox.push(envelope)
      if (!cell.running) {
        cell.running = true
        runFork(runActor(cell))
      }
      // Only now, with this cell running: eviction must never pick the actor it is handing a message to.
      if (cells.size > settings.maxActors) evictLeastRecentlyUsed()
      return "accepted"
    }

    const evictLeastRecentlyUsed = () => {
      let scanned = 0
      for (const cell of cells.values()) {
        if (cells.size <= settings.maxActors || scanned++ >= 64) break
        passivateIfIdle(cell)
      }
    }

    const ask = <A, E>(id: string, work: (actor: Behavior) => Effect.Effect<A, E>) =>
      send<A, E>(id, (reply) => ({
        _tag: "Run",
        run: (actor) => Effect.map(Effect.exit(work(actor)), reply)
      }))

    /**
     * Hands the actor an envelope made around `reply` and waits for the reply: a callback, not a
     * Deferred, because this runs for every message and a Deferred costs more to make than the rest.
     */
    const send = <A, E>(id: string, envelope: (reply: Reply<A, E>) => Envelope) =>
      Effect.async<A, E | Overloaded | ShuttingDown>((resume) => {
        const delivered = deliver(id, envelope(resume))
        if (delivered === "stopping") resume(Effect.fail(new ShuttingDown()))
        else if (delivered === "full") resume(Effect.fail(new Overloaded({ streamType, id, retryAfterSeconds: 1 })))
      }).pipe(Effect.ensuring(flushPassivations))

    const execute: ActorSystem<State, Command, Event>["execute"] = (id, command, given) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        // The events carry the trace of the command's span (this one), unless the caller gave one.
        const trace = given.metadata.traceparent === undefined ? yield* currentTraceContext : Option.none()
        const options = Option.isSome(trace) ? { ...given, metadata: { ...given.metadata, ...trace.value } } : given
        const plain = options.expectedVersion === undefined && options.idempotency === undefined
        const exit = yield* Effect.exit(
          plain
            ? send<CommandResult<State, Event>, CommandError>(id, (reply) => ({ _tag: "Command", command, options, reply }))
            : ask(id, (actor) => actor.execute(command, options))
        )
        const elapsed = (yield* Clock.currentTimeMillis) - started
        const outcome = Exit.isSuccess(exit) ? "ok" : Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error._tag : "defect"
        yield* Metric.increment(commandsBy(outcome))
        yield* Metric.update(durations, elapsed)
        return yield* exit
      }).pipe(
        Effect.withSpan("ActorSystem.execute", { attributes: { streamType, streamId: id, command: command._tag }, captureStackTrace: false })
      )

    const read: ActorSystem<State, Command, Event>["read"] = (id) =>
      send<AggregateSnapshot<State>, StoreUnavailable>(id, (reply) => ({ _tag: "Read", reply }))

    // Passivate idle actors; the map is in recency order, so the scan stops at the first recent one.
    const idleMillis = Duration.toMillis(settings.idleTimeout)
    yield* Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const cell of cells.values()) {
        if (now - cell.lastActive < idleMillis) break
        passivateIfIdle(cell)
      }
    }).pipe(
      Effect.zipRight(flushPassivations),
      Effect.zipRight(Effect.suspend(() => Metric.set(Metric.tagged(cachedActors, "stream_type", streamType), cells.size))),
      Effect.repeat(Schedule.spaced(Duration.millis(Math.max(50, Math.min(idleMillis / 4, 10_000))))),
      Effect.forkScoped
    )

    // Graceful stop: refuse new commands, let every actor finish what it accepted, then end.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        stopping = true
        const busy = [...cells.values()].filter((cell) => cell.running)
        const waiting = busy.reduce((n, cell) => n + cell.mailbox.length, 0)
        if (busy.length > 0) {
          yield* Effect.logInfo("actors finishing accepted commands").pipe(Effect.annotateLogs({ streamType, actors: busy.length, waiting }))
        }
        const drained = yield* FiberSet.awaitEmpty(fibers).pipe(Effect.timeoutOption(Duration.seconds(30)))
        if (drained._tag === "None") yield* Effect.logWarning("actors did not finish within 30 s; interrupting them")
      })
    )

    const passivateWhere = (matches: (id: string) => boolean) =>
      Effect.suspend(() => {
        const before = passivatedSinceFlush
        for (const cell of cells.values()) if (matches(cell.id)) passivateIfIdle(cell)
        const passivated = passivatedSinceFlush - before
        return Effect.as(flushPassivations, passivated)
      })

    return {
      streamType,
      execute,
      read,
      liveActors: Effect.sync(() => cells.size),
      passivateWhere
    }
  })

/** One aggregate's actor system, on the application's store and settings. */
export const make = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>
) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const config = yield* AppConfig
    // The interval the aggregate declares, unless an operator overrides it: SNAPSHOT_EVERY_<TYPE>
    // (SNAPSHOT_EVERY_ORDER, say) for this type, else SNAPSHOT_EVERY for every type.
    const own = yield* Config.option(
      Config.integer(`SNAPSHOT_EVERY_${definition.streamType.toUpperCase()}`).pipe(
        Config.validate({ message: "must be a whole number, 0 or more", validation: (n) => n >= 0 })
      )
    )
    const override = Option.orElse(own, () => config.snapshotEvery)
    return yield* makeActorSystem(
      definition,
      store,
      Option.match(override, {
        onNone: () => config.runtime,
        onSome: (snapshotEvery): RuntimeSettings => ({ ...config.runtime, snapshotEvery })
      })
    )
  })

/** The layer of one aggregate's actor system, under the tag the application gives it. */
export const layer = <Id, State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  tag: Context.Tag<Id, ActorSystem<State, Command, Event>>,
  definition: AggregateDefinition<State, Command, Event>
) => Layer.scoped(tag, make(definition))
