import { expect, layer } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Exit, FastCheck as fc, Fiber, Layer, Runtime, Scope } from "effect"
import { randomUUID } from "node:crypto"
import { StoreLive } from "../../src/app.js"
import { fold } from "../../src/domain/aggregate.js"
import { orderAggregate, OrderCommand } from "../../src/domain/order/index.js"
import { EventStore, type EventStoreShape } from "../../src/eventstore/EventStore.js"
import { makeActorSystem } from "../../src/runtime/ActorSystem.js"
import { testConfig } from "../support/layers.js"
import { orderScript } from "../support/orderHistories.js"
import { addOne, at, options, placeOrder, runScript, settings } from "../support/orders.js"

const StoreTest = StoreLive.pipe(Layer.provide(testConfig()))

/** A second process: its own pool, its own actors, the same database. */
const otherNodeStore = Effect.map(Layer.build(StoreTest), (context) => Context.get(context, EventStore))

const decoded = (store: EventStoreShape, id: string) =>
  Effect.map(store.readStream(id), (events) =>
    events.map((event) => {
      const decodedEvent = orderAggregate.events.decode(event)
      if (decodedEvent._tag === "Left") throw new Error(decodedEvent.left.reason)
      return decodedEvent.right
    }))

layer(StoreTest, { excludeTestServices: true })("actor runtime", (it) => {
  it.scoped("serializes 100 concurrent commands on one order: versions 1..N, no gap, no duplicate", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const orders = yield* makeActorSystem(orderAggregate, store, settings())
      const id = randomUUID()
      yield* orders.execute(id, placeOrder(), options())
      const results = yield* Effect.all(Array.from({ length: 100 }, () => orders.execute(id, addOne(), options())), {
        concurrency: "unbounded"
      })
      expect(results.map((result) => result.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 100 }, (_, i) => i + 2)
      )
      const stored = yield* store.readStream(id)
      expect(stored.map((event) => event.version)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1))
      const snapshot = yield* orders.read(id)
      expect(snapshot.version).toBe(101)
      expect(snapshot.state.lines).toEqual([{ sku: "A", quantity: 101, unitPriceCents: 100 }])
    }))

  it.scoped("a named command decided again on another node is stored once and answered as replayed: alone, refused, and in a batch", () =>
    Effect.gen(function*() {
      // The first node decided and stored these commands, and died before answering; the cluster
      // sent them again to the node that took the shard, whose actor has the newer state.
      const first = yield* makeActorSystem(orderAggregate, yield* EventStore, settings())
      const second = yield* makeActorSystem(orderAggregate, yield* otherNodeStore, settings())
      const id = randomUUID()
      const named = () => options({ metadata: { commandId: randomUUID(), correlationId: randomUUID(), causationId: null, userId: null } })
      const place = named()
      const add = named()
      const confirm = named()
      const guarded = { ...named(), expectedVersion: 2 }
      yield* first.execute(id, placeOrder(), place)
      const added = yield* first.execute(id, addOne("B"), add)
      const guardedAdd = yield* first.execute(id, addOne("G"), guarded)
      const confirmed = yield* first.execute(id, OrderCommand.Confirm({ at }), confirm)

      // Decided again: AddItem would append again (the store knows its events' ids), Confirm would be
      // refused for what it did itself (the probe finds its events), PlaceOrder likewise.
      // One with If-Match would be a conflict: the version it rests on is past, moved by itself.
      const again = yield* Effect.all([
        second.execute(id, addOne("B"), add),
        second.execute(id, OrderCommand.Confirm({ at }), confirm),
        second.execute(id, placeOrder(), place),
        second.execute(id, addOne("G"), guarded)
      ], { concurrency: "unbounded" })
      expect(again.map((result) => [result.replayed, result.version])).toEqual([
        [true, added.version],
        [true, confirmed.version],
        [true, 1],
        [true, guardedAdd.version]
      ])

      // In a batch with new commands: each answered on its own, the new ones appended once.
      const freshId = randomUUID()
      const placeFresh = named()
      yield* first.execute(freshId, placeOrder(), placeFresh)
      const addFirst = named()
      yield* first.execute(freshId, addOne("C"), addFirst)
      const batch = yield* Effect.all([
        second.execute(freshId, addOne("D"), named()),
        second.execute(freshId, addOne("C"), addFirst),
        second.execute(freshId, addOne("E"), named())
      ], { concurrency: "unbounded" })
      expect(batch.map((result) => result.replayed)).toEqual([false, true, false])
      expect(batch[1]!.version).toBe(2)

      const stored = yield* (yield* EventStore).readStream(id)
      expect(stored.map((event) => event.type)).toEqual(["OrderPlaced", "ItemAdded", "ItemAdded", "OrderConfirmed"])
      const storedFresh = yield* (yield* EventStore).readStream(freshId)
      expect(storedFresh.map((event) => event.version)).toEqual([1, 2, 3, 4])
      expect(storedFresh.filter((event) => event.metadata.commandId === addFirst.metadata.commandId)).toHaveLength(1)
      // A refusal or a conflict of a command never applied is still one.
      const refused = yield* Effect.flip(second.execute(id, OrderCommand.Confirm({ at }), named()))
      expect(refused._tag).toBe("RuleViolated")
      const stale = yield* Effect.flip(second.execute(id, addOne("H"), { ...named(), expectedVersion: 2 }))
      expect(stale._tag).toBe("VersionConflict")
    }))

  it.scoped("commands waiting together are decided in turn and appended in one transaction, each answered on its own", () =>
    Effect.gen(function*() {
      const real = yield* EventStore
      let appends = 0
      const counting: EventStoreShape = { ...real, append: (request) => Effect.suspend(() => (appends++, real.append(request))) }
      const orders = yield* makeActorSystem(orderAggregate, counting, settings())
      const id = randomUUID()
      yield* orders.execute(id, placeOrder(), options())
      const before = appends
      // 60 commands at once; every third removes a SKU that is not on the order, and must fail alone.
      const exits = yield* Effect.all(
        Array.from({ length: 60 }, (_, i) =>
          Effect.exit(orders.execute(id, i % 3 === 2 ? OrderCommand.RemoveItem({ sku: "Z", at }) : addOne(), options()))),
        { concurrency: "unbounded" }
      )
      const succeeded = exits.filter(Exit.isSuccess).map((exit) => exit.value)
      expect(succeeded).toHaveLength(40)
      for (const exit of exits.filter(Exit.isFailure)) {
        expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "RuleViolated", rule: "sku-not-in-order" })))
      }
      expect(succeeded.map((result) => result.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 2))
      // Each answer carries the state its own command left.
      for (const result of succeeded) expect(result.state.lines[0]!.quantity).toBe(result.version)
      expect(appends - before).toBeLessThan(60)
      expect(yield* real.streamVersion(id)).toBe(41)
    }))

  it.scoped("refuses a stale expected version at once, without touching the store", () =>
    Effect.gen(function*() {
      const real = yield* EventStore
      let calls = 0
      const counting: EventStoreShape = {
        append: (request) => Effect.suspend(() => (calls++, real.append(request))),
        readStream: (id, o) => Effect.suspend(() => (calls++, real.readStream(id, o))),
        readHistory: (id, o) => Effect.suspend(() => (calls++, real.readHistory(id, o))),
        streamVersion: (id) => Effect.suspend(() => (calls++, real.streamVersion(id))),
        appliedThrough: (eventId) => Effect.suspend(() => (calls++, real.appliedThrough(eventId))),
        readAll: (o) => Effect.suspend(() => (calls++, real.readAll(o))),
        headPosition: Effect.suspend(() => (calls++, real.headPosition)),
        findIdempotency: (key) => Effect.suspend(() => (calls++, real.findIdempotency(key))),
        loadLatest: (id) => Effect.suspend(() => (calls++, real.loadLatest(id))),
        saveSnapshot: (snapshot) => Effect.suspend(() => (calls++, real.saveSnapshot(snapshot)))
      }
      const orders = yield* makeActorSystem(orderAggregate, counting, settings())
      const id = randomUUID()
      yield* orders.execute(id, placeOrder(), options())
      yield* orders.execute(id, addOne(), options())
      const before = calls
      const refused = yield* Effect.flip(orders.execute(id, addOne(), options({ expectedVersion: 1 })))
      expect(refused).toMatchObject({ _tag: "VersionConflict", streamId: id, expectedVersion: 1, actualVersion: 2 })
      expect(calls).toBe(before)
    }))

  it.scoped("refuses domain errors and unknown aggregates with typed errors", () =>
    Effect.gen(function*() {
      const orders = yield* makeActorSystem(orderAggregate, yield* EventStore, settings())
      const id = randomUUID()
      expect(yield* Effect.flip(orders.execute(id, addOne(), options()))).toMatchObject({
        _tag: "AggregateNotFound",
        streamType: "order",
        id
      })
      yield* orders.execute(id, placeOrder(), options())
      const refused = yield* Effect.flip(
        orders.execute(id, { ...addOne(), quantity: 5000 } as OrderCommand, options())
      )
      expect(refused).toMatchObject({ _tag: "RuleViolated", rule: "quantity-out-of-range" })
      expect((yield* orders.read(id)).version).toBe(1)
    }))

  it.scoped("answers a retried idempotent command with the first result and appends once", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const orders = yield* makeActorSystem(orderAggregate, store, settings())
      const id = randomUUID()
      const idempotency = { scope: "test", key: `k-${id}`, requestHash: "place" }
      const first = yield* orders.execute(id, placeOrder(), options({ idempotency }))
      const again = yield* orders.execute(id, placeOrder(), options({ idempotency }))
      expect(again).toMatchObject({ version: first.version, replayed: true, events: [] })
      expect(yield* Effect.flip(orders.execute(id, addOne(), options({ idempotency: { ...idempotency, requestHash: "other" } }))))
        .toMatchObject({ _tag: "IdempotencyKeyReused" })
      expect(yield* store.streamVersion(id)).toBe(1)
    }))

  it.scoped("catches up when another process appended: retries plain commands, refuses If-Match ones", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const nodeA = yield* makeActorSystem(orderAggregate, store, settings())
      const nodeB = yield* makeActorSystem(orderAggregate, yield* otherNodeStore, settings())
      const id = randomUUID()
      yield* nodeA.execute(id, placeOrder(), options())
      yield* nodeA.read(id) // A caches version 1
      yield* nodeB.execute(id, addOne(), options()) // B appends version 2 behind A's back
      // A decides on version 1, loses on append, reloads and decides again.
      expect((yield* nodeA.execute(id, addOne(), options())).version).toBe(3)
      yield* nodeB.execute(id, addOne(), options({ expectedVersion: 3 })) // B knew better: 4
      const conflict = yield* Effect.flip(nodeA.execute(id, addOne(), options({ expectedVersion: 3 })))
      expect(conflict).toMatchObject({ _tag: "VersionConflict", expectedVersion: 3, actualVersion: 4 })
      // An If-Match ahead of A's cache is right: A catches up and applies it.
      expect((yield* nodeA.execute(id, addOne(), options({ expectedVersion: 4 }))).version).toBe(5)
    }))

  it.scoped("a read on one node sees what another node appended since it cached the order", () =>
    Effect.gen(function*() {
      const nodeA = yield* makeActorSystem(orderAggregate, yield* EventStore, settings())
      const nodeB = yield* makeActorSystem(orderAggregate, yield* otherNodeStore, settings())
      const id = randomUUID()
      yield* nodeA.execute(id, placeOrder(), options())
      expect((yield* nodeA.read(id)).version).toBe(1)
      yield* nodeB.execute(id, addOne(), options())
      yield* nodeB.execute(id, addOne(), options())
      const read = yield* nodeA.read(id)
      expect(read.version).toBe(3)
      expect(read.state.lines[0]!.quantity).toBe(3)
    }))

  it.scoped("a command one node would refuse on its cached state is decided on the state another node moved on to", () =>
    Effect.gen(function*() {
      const nodeA = yield* makeActorSystem(orderAggregate, yield* EventStore, settings())
      const nodeB = yield* makeActorSystem(orderAggregate, yield* otherNodeStore, settings())
      const id = randomUUID()
      const placed = yield* nodeA.execute(id, placeOrder(), options())
      yield* nodeB.execute(id, OrderCommand.Confirm({ at }), options())
      // A's cache says "placed", where paying is refused; the store says "confirmed".
      const asked = yield* nodeA.execute(id, OrderCommand.Pay({ amountCents: placed.state.totalCents, method: "card", at }), options())
      expect(asked).toMatchObject({ version: 3, state: { status: "paymentPending" } })
      yield* nodeB.execute(id, OrderCommand.RecordPayment({ attempt: 1, at }), options())
      // The same in a mailbox batch of refusals: decided again, alone, on the newer state.
      yield* nodeB.execute(id, OrderCommand.Ship({ carrier: "DHL", trackingNumber: "JD0146", at }), options())
      const delivered = yield* Effect.all(
        [nodeA.execute(id, OrderCommand.Deliver({ at }), options()), Effect.exit(nodeA.execute(id, OrderCommand.Deliver({ at }), options()))],
        { concurrency: "unbounded" }
      )
      expect(delivered[0]).toMatchObject({ version: 6, state: { status: "delivered" } })
    }))

  it.scoped("two nodes hammering the same orders lose no acknowledged command", () =>
    Effect.gen(function*() {
      const storeA = yield* EventStore
      const storeB = yield* otherNodeStore
      const nodes = [
        yield* makeActorSystem(orderAggregate, storeA, settings({ conflictRetries: 100 })),
        yield* makeActorSystem(orderAggregate, storeB, settings({ conflictRetries: 100 }))
      ]
      const ids = Array.from({ length: 4 }, () => randomUUID())
      yield* Effect.forEach(ids, (id) => nodes[0]!.execute(id, placeOrder(), options()))
      const attempts = ids.flatMap((id) =>
        nodes.flatMap((node) => Array.from({ length: 25 }, () => Effect.exit(node.execute(id, addOne(), options()))))
      )
      const exits = yield* Effect.all(attempts, { concurrency: "unbounded" })
      const acknowledged = exits.filter(Exit.isSuccess).map((exit) => exit.value)
      for (const exit of exits.filter(Exit.isFailure)) {
        expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "VersionConflict" })))
      }
      for (const id of ids) {
        const mine = acknowledged.filter((result) => result.streamId === id)
        const stored = yield* storeA.readStream(id)
        expect(stored.map((event) => event.version)).toEqual(stored.map((_, i) => i + 1))
        expect(stored.length).toBe(1 + mine.length)
        expect(new Set(mine.map((result) => result.version)).size).toBe(mine.length)
        const state = fold(orderAggregate.evolve, orderAggregate.initialState, yield* decoded(storeA, id))
        expect(state.lines[0]!.quantity).toBe(1 + mine.length)
      }
      expect(acknowledged.length).toBeGreaterThan(0)
    }))

  it.scoped("a full mailbox answers Overloaded and loses nothing it accepted", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const orders = yield* makeActorSystem(orderAggregate, store, settings({ mailboxCapacity: 2 }))
      const id = randomUUID()
      yield* orders.execute(id, placeOrder(), options())
      const exits = yield* Effect.all(Array.from({ length: 40 }, () => Effect.exit(orders.execute(id, addOne(), options()))), {
        concurrency: "unbounded"
      })
      const overloaded = exits.filter((exit) => Exit.isFailure(exit))
      expect(overloaded.length).toBeGreaterThan(0)
      for (const exit of overloaded) {
        expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "Overloaded", id, retryAfterSeconds: 1 })))
      }
      expect(yield* store.streamVersion(id)).toBe(1 + exits.filter(Exit.isSuccess).length)
    }))

  it.scoped("passivates idle actors and keeps the live count under the cap, least recently used first", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const orders = yield* makeActorSystem(orderAggregate, store, settings({ idleTimeout: Duration.millis(300), maxActors: 3 }))
      const ids = Array.from({ length: 5 }, () => randomUUID())
      for (const id of ids) yield* orders.execute(id, placeOrder(), options())
      expect(yield* orders.liveActors).toBe(3)
      yield* Effect.sleep("1200 millis")
      expect(yield* orders.liveActors).toBe(0)
      // A passivated actor comes back with its state from the store.
      expect(yield* orders.execute(ids[0]!, addOne(), options())).toMatchObject({ version: 2 })
      expect((yield* orders.read(ids[0]!)).state.lines[0]!.quantity).toBe(2)
    }))

  it.scoped("at the cap with every other actor busy, a new actor takes its command: eviction never picks it", () =>
    Effect.gen(function*() {
      const real = yield* EventStore
      const gate = yield* Deferred.make<void>()
      const held = new Set<string>()
      // Appends to the held orders wait at the gate: their actors stay busy.
      const gated: EventStoreShape = {
        ...real,
        append: (request) => held.has(request.streamId) ? Effect.zipRight(Deferred.await(gate), real.append(request)) : real.append(request)
      }
      const orders = yield* makeActorSystem(orderAggregate, gated, settings({ maxActors: 2 }))
      const busy = [randomUUID(), randomUUID()]
      for (const id of busy) held.add(id)
      const waiting = yield* Effect.forEach(busy, (id) => Effect.fork(orders.execute(id, placeOrder(), options())))
      yield* Effect.sleep("100 millis")
      expect(yield* orders.execute(randomUUID(), placeOrder(), options())).toMatchObject({ version: 1 })
      yield* Deferred.succeed(gate, undefined)
      for (const fiber of waiting) expect((yield* Fiber.join(fiber)).version).toBe(1)
    }))

  it.effect("shutdown lets every accepted command finish", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const scope = yield* Scope.make()
      const orders = yield* makeActorSystem(orderAggregate, store, settings()).pipe(Scope.extend(scope))
      const id = randomUUID()
      yield* orders.execute(id, placeOrder(), options())
      const inFlight = yield* Effect.forEach(
        Array.from({ length: 30 }, () => orders.execute(id, addOne(), options())),
        (command) => Effect.fork(Effect.exit(command))
      )
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      const exits = yield* Effect.forEach(inFlight, Fiber.join)
      const done = exits.filter(Exit.isSuccess)
      for (const exit of exits.filter(Exit.isFailure)) {
        expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "ShuttingDown" })))
      }
      expect(done.length).toBeGreaterThan(0)
      expect(yield* store.streamVersion(id)).toBe(1 + done.length)
      expect(yield* Effect.flip(orders.execute(id, addOne(), options()))).toMatchObject({ _tag: "ShuttingDown" })
    }))

  it.scoped("the state the runtime reports is the fold of the stored history, for random histories", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const orders = yield* makeActorSystem(orderAggregate, store, settings())
      const runtime = yield* Effect.runtime<never>()
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(orderScript, (script) =>
            Effect.gen(function*() {
              const id = yield* runScript(orders, script)
              const reported = yield* orders.read(id)
              const history = yield* decoded(store, id)
              expect(reported.version).toBe(history.length)
              expect(reported.state).toEqual(fold(orderAggregate.evolve, orderAggregate.initialState, history))
            }).pipe(Runtime.runPromise(runtime))),
          { numRuns: 25 }
        )
      )
    }))
})
