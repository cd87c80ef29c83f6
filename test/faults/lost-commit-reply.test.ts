/**
 * Commits whose reply is lost. A proxy between the runtime and PostgreSQL lets the transaction that
 * inserts events commit, then drops its ReadyForQuery and closes the connection: the rows are
 * durable, the runtime hears "connection terminated". Before the fix, the group writer retried such
 * appends alone, they read as version conflicts, and the actors decided the commands again: items
 * added twice, confirmations that had applied answered 422.
 */
import { expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { StoreLive } from "../../src/app.js"
import { orderAggregate, OrderCommand } from "../../src/domain/order/index.js"
import { EventStore, type EventStoreShape } from "../../src/eventstore/EventStore.js"
import { makeActorSystem } from "../../src/runtime/ActorSystem.js"
import { commitCutProxy, throughProxy } from "../support/faults/commitCutProxy.js"
import { expectError, placeOrder as placeOrderOverHttp, post, serverLayer } from "../support/http.js"
import { databaseUrl, testConfig } from "../support/layers.js"
import { addOne, at, options, placeOrder, settings } from "../support/orders.js"

/** An event store whose connections all go through `port`. */
const storeThrough = (port: number) =>
  Effect.map(
    Layer.build(StoreLive.pipe(Layer.provide(testConfig({ databaseUrl: throughProxy(databaseUrl(), port) })))),
    (context) => Context.get(context, EventStore)
  )

/** The store as it is, on a direct connection: the judge of what happened. */
const directStore = Effect.map(Layer.build(StoreLive.pipe(Layer.provide(testConfig()))), (context) => Context.get(context, EventStore))

/** A commit-cut proxy in front of this run's database, the runtime's store through it, and a judge beside it. */
const harness = Effect.gen(function*() {
  const proxy = yield* commitCutProxy({ host: "127.0.0.1", port: Number(new URL(databaseUrl()).port || 5432) })
  const store = yield* storeThrough(proxy.port)
  const judge = yield* directStore
  const orders = yield* makeActorSystem(orderAggregate, store, settings())
  return { proxy, judge, orders }
})

/** Every command is told apart by its correlation id, which its events carry. */
const correlated = () => options({ metadata: { correlationId: randomUUID(), causationId: null, userId: null } })

const eventsOf = (store: EventStoreShape, id: string) => store.readStream(id)

it.scopedLive("a lost commit reply under load: every command stored once, and answered with what happened", () =>
  Effect.gen(function*() {
    const { judge, orders, proxy } = yield* harness
    const ids = Array.from({ length: 30 }, () => randomUUID())
    yield* Effect.forEach(ids, (id) => orders.execute(id, placeOrder(), options()), { concurrency: "unbounded" })

    // In each round thirty actors at once, each with a few commands arriving together: group commits
    // of many actors, mailbox batches of several commands, and a lost reply on one commit in four.
    proxy.cutWithProbability(0.25)
    const sent: Array<{ id: string; options: ReturnType<typeof correlated> }> = []
    const exits: Array<Exit.Exit<{ readonly version: number }, { readonly _tag: string }>> = []
    for (let round = 0; round < 20; round++) {
      const wave = ids.flatMap((id, i) => Array.from({ length: 1 + ((i + round) % 3) }, () => ({ id, options: correlated() })))
      sent.push(...wave)
      exits.push(
        ...yield* Effect.forEach(wave, (command) => Effect.exit(orders.execute(command.id, addOne(), command.options)), {
          concurrency: "unbounded"
        })
      )
    }
    proxy.cutWithProbability(0)
    expect(proxy.cuts()).toBeGreaterThan(5)

    const stored = new Map<string, Array<{ version: number; correlationId: string }>>()
    for (const id of ids) {
      const events = yield* eventsOf(judge, id)
      // Versions 1..N, no gap, no duplicate.
      expect(events.map((event) => event.version)).toEqual(events.map((_, i) => i + 1))
      stored.set(id, events.map((event) => ({ version: event.version, correlationId: event.metadata.correlationId })))
    }
    let acknowledged = 0
    for (const [i, command] of sent.entries()) {
      const exit = exits[i]!
      const copies = stored.get(command.id)!.filter((event) => event.correlationId === command.options.metadata.correlationId)
      // Never stored twice, whatever the answer.
      expect(copies.length).toBeLessThanOrEqual(1)
      if (Exit.isSuccess(exit)) {
        acknowledged++
        expect(copies).toEqual([{ version: exit.value.version, correlationId: command.options.metadata.correlationId }])
      } else {
        // The only failures a lost reply may cause: "not applied" (then it is not stored) or "unknown".
        const error = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
        expect(error?._tag).toMatch(/^(StoreUnavailable|AppendOutcomeUnknown)$/)
        if (error?._tag === "StoreUnavailable") expect(copies).toEqual([])
      }
    }
    expect(acknowledged).toBeGreaterThan(sent.length / 2)
    // The actors' state is the store's: each order's quantity counts its stored ItemAdded events.
    for (const id of ids) {
      const { state, version } = yield* orders.read(id)
      expect(version).toBe(stored.get(id)!.length)
      expect(state.lines[0]!.quantity).toBe(stored.get(id)!.length)
    }
  }), { timeout: 120_000 })

it.scopedLive("a confirmation whose reply was lost is answered as done, once — alone, in a group, and with If-Match", () =>
  Effect.gen(function*() {
    const { judge, orders, proxy } = yield* harness
    const confirm = OrderCommand.Confirm({ at })

    const alone = randomUUID()
    yield* orders.execute(alone, placeOrder(), options())
    proxy.cutNext(1)
    expect(yield* orders.execute(alone, confirm, options())).toMatchObject({ version: 2, state: { status: "confirmed" } })

    // Many confirmations in one group statement whose reply is lost: each is found, none decided again.
    const many = Array.from({ length: 20 }, () => randomUUID())
    yield* Effect.forEach(many, (id) => orders.execute(id, placeOrder(), options()), { concurrency: "unbounded" })
    proxy.cutNext(1)
    const answers = yield* Effect.forEach(many, (id) => orders.execute(id, confirm, options()), { concurrency: "unbounded" })
    expect(answers.map((answer) => answer.version)).toEqual(many.map(() => 2))

    const conditional = randomUUID()
    yield* orders.execute(conditional, placeOrder(), options())
    proxy.cutNext(1)
    expect(yield* orders.execute(conditional, confirm, options({ expectedVersion: 1 }))).toMatchObject({ version: 2 })

    expect(proxy.cuts()).toBeGreaterThanOrEqual(3)
    for (const id of [alone, ...many, conditional]) {
      expect((yield* eventsOf(judge, id)).map((event) => event.type)).toEqual(["OrderPlaced", "OrderConfirmed"])
    }
  }), { timeout: 60_000 })

it.scopedLive("when the outcome cannot be learnt, the caller hears so, and a retry with the same key gets the first result", () =>
  Effect.gen(function*() {
    const { judge, orders, proxy } = yield* harness
    const id = randomUUID()
    yield* orders.execute(id, placeOrder(), options())

    // The commit's reply is lost and the database stays out of reach while the store asks again.
    proxy.cutNext(1, { thenRefuse: true })
    const idempotency = { scope: "test", key: `k-${randomUUID()}`, requestHash: "add-one" }
    const unknown = yield* Effect.flip(orders.execute(id, addOne(), options({ idempotency })))
    expect(unknown._tag).toBe("AppendOutcomeUnknown")

    proxy.restore()
    // The actor forgot what it had cached: it reads the store again and sees the command applied.
    expect((yield* orders.read(id)).version).toBe(2)
    const retried = yield* orders.execute(id, addOne(), options({ idempotency }))
    expect(retried).toMatchObject({ version: 2, replayed: true })
    expect((yield* eventsOf(judge, id)).map((event) => event.type)).toEqual(["OrderPlaced", "ItemAdded"])
  }), { timeout: 60_000 })

it.scopedLive("over HTTP: 503 outcome_unknown without Retry-After, then the same Idempotency-Key gets the first answer", () =>
  Effect.gen(function*() {
    const proxy = yield* commitCutProxy({ host: "127.0.0.1", port: Number(new URL(databaseUrl()).port || 5432) })
    const server = yield* Layer.build(serverLayer({ databaseUrl: throughProxy(databaseUrl(), proxy.port) }))
    const judge = yield* directStore
    yield* Effect.gen(function*() {
      const orderId = yield* placeOrderOverHttp()
      const request = { body: { sku: "B", quantity: 2, unitPriceCents: 300 }, headers: { "idempotency-key": randomUUID() } }

      proxy.cutNext(1, { thenRefuse: true })
      const unknown = yield* post(`/orders/${orderId}/items`, request)
      expectError(unknown, 503, { error: "outcome_unknown" })
      expect(unknown.json.message).toMatch(/Idempotency-Key/)
      expect(unknown.headers.get("retry-after")).toBeNull()

      proxy.restore()
      const retried = yield* post(`/orders/${orderId}/items`, request)
      expect(retried.status, retried.text).toBe(200)
      expect(retried.json).toMatchObject({ orderId, version: 2 })
      expect((yield* eventsOf(judge, orderId)).map((event) => event.type)).toEqual(["OrderPlaced", "ItemAdded"])
    }).pipe(Effect.provide(server))
  }), { timeout: 60_000 })
