/**
 * `status --json` tells the pipeline's state as it is: the backlog before a relay runs, the active
 * relay once one does; the cluster's runner and the shards it owns once a `serve` has taken them.
 */
import { expect, layer } from "@effect/vitest"
import { Duration, Effect, Layer, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import pg from "pg"
import { OrderActors } from "../../src/aggregates.js"
import { RELAY_LOCK } from "../../src/outbox/OutboxRelay.js"
import * as OutboxStore from "../../src/outbox/OutboxStore.js"
import { startBuiltCli } from "../../bench/lib/processes.js"
import { authEnvironment } from "../support/auth.js"
import { scratchDatabase } from "../support/databases.js"
import { freePort } from "../support/faults/toxiproxy.js"
import { appOnEnvironment, messagingEnvironment, TestMessaging } from "../support/messaging.js"
import { eventually } from "../support/notifications.js"
import { opsMetric, opsPortOf } from "../support/ops.js"
import { options, placeOrder } from "../support/orders.js"

/** Runs `status` (with `args`) on the environment; gives what it printed, a line each. */
const statusLines = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const env = yield* TestMessaging
    const run = yield* startBuiltCli(["status", ...args], { DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix })
    const exit = yield* run.exited
    expect(exit.code, run.lines.join("\n")).toBe(0)
    return run.lines
  }).pipe(Effect.scoped)

/** Runs `status --json` on the environment; gives what it printed, parsed. */
const statusNow = Effect.map(statusLines(["--json"]), (lines) => JSON.parse(lines.slice(lines.findIndex((line) => line === "{")).join("\n")))

const Environment = OutboxStore.layer.pipe(Layer.provideMerge(appOnEnvironment({ relay: false })), Layer.provideMerge(messagingEnvironment))

layer(Environment, { excludeTestServices: true })("status", (it) => {
  it.scoped("shows the outbox backlog with no relay, then the active relay and the backlog drained", () =>
    Effect.gen(function*() {
      const orders = yield* OrderActors
      const orderId = randomUUID()
      yield* orders.execute(orderId, placeOrder(), options())
      // The relay of another database on the same server holds that database's lock: not this one's relay.
      const other = yield* scratchDatabase
      yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new pg.Client({ connectionString: other.url })
          await client.connect()
          await client.query("SELECT pg_advisory_lock($1)", [RELAY_LOCK])
          return client
        }),
        (client) => Effect.promise(() => client.end())
      )
      const before = yield* statusNow
      expect(before).toMatchObject({
        activeRelay: { ok: true, value: null },
        outboxBacklog: { ok: true, value: { events: { pending: 1, oldestAgeSeconds: expect.any(Number) }, notifications: { pending: 0, oldestAgeSeconds: 0 } } },
        deadLetters: { ok: true, value: 0 },
        quarantined: { ok: true, value: 0 },
        stuckDeliveries: { ok: true, value: 0 },
        // No process manager has run on this database: no saga, no feed behind.
        sagas: { ok: true, value: [{ process: "fulfilment", running: 0, stuck: 0, parked: 0, feedBehind: 0 }] }
      })
      // The row has waited since its append: longer than the status process took to start, less than the test.
      expect(before.outboxBacklog.value.events.oldestAgeSeconds).toBeGreaterThan(0.1)
      expect(before.outboxBacklog.value.events.oldestAgeSeconds).toBeLessThan(120)

      const env = yield* TestMessaging
      const relay = yield* startBuiltCli(["relay"], { DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix, OUTBOX_POLL_INTERVAL: "200 millis" })
      yield* relay.waitForLine(/outbox relay active/, 60_000)
      // Drained, as the store tells (asked here: a status process each time would be slow), then asked of `status`.
      const outbox = yield* OutboxStore.OutboxStore
      yield* outbox.backlog.pipe(
        Effect.filterOrFail((backlog) => backlog.events.pending === 0, () => new Error("the relay has not drained the outbox")),
        Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds"))),
        Effect.catchAll((error) => Effect.dieMessage(`${error.message}; the relay printed:\n${relay.lines.join("\n")}`))
      )
      const after = yield* statusNow
      expect(after.outboxBacklog).toMatchObject({ ok: true, value: { events: { pending: 0, oldestAgeSeconds: 0 } } })
      expect(after.activeRelay).toMatchObject({ ok: true, value: { pid: expect.any(Number) } })
      expect(after.projectorLag.ok).toBe(true)
    }), { timeout: 180_000 })

  // The environment's database is this file's own: the one cluster it can host is this test's.
  it.scoped("shows the cluster: no runner before a node starts, then the node's runner owning every shard", () =>
    Effect.gen(function*() {
      const before = yield* statusNow
      expect(before.cluster).toEqual({ ok: true, value: { shards: 300, unowned: 300, holders: [], runners: [] } })

      const env = yield* TestMessaging
      const serve = yield* startBuiltCli(["serve"], {
        ...authEnvironment,
        DATABASE_URL: env.databaseUrl,
        MESSAGING_PREFIX: env.prefix,
        // Only the runner is under test.
        OUTBOX_RELAY: "false",
        PROJECTOR: "false",
        PORT: String(yield* freePort)
      })
      const runner = /runner=([^\s"]+)/.exec(yield* serve.waitForLine(/cluster runner started/, 60_000))![1]!
      const ops = yield* opsPortOf(serve)
      // Both gauges: an unset one reads 0, so "0 unowned" alone could be a node that has not looked yet.
      yield* eventually(
        "the node owns every shard",
        Effect.all([opsMetric(ops, "cluster_shards_owned"), opsMetric(ops, "cluster_shards_unowned")]),
        ([owned, unowned]) => owned === 300 && unowned === 0,
        Duration.seconds(60)
      ).pipe(Effect.catchAll((error) => Effect.dieMessage(`${error.message}; serve printed:\n${serve.lines.join("\n")}`)))

      const after = yield* statusNow
      expect(after.cluster).toMatchObject({
        ok: true,
        value: { shards: 300, unowned: 0, holders: [{ runner, shards: 300 }], runners: [{ address: runner, healthy: true }] }
      })
      // Its heartbeat is refreshed every second.
      expect(after.cluster.value.runners[0].heartbeatAgeSeconds).toBeLessThan(5)

      const text = (yield* statusLines([])).join("\n")
      expect(text).toContain("cluster             1 runner, 300/300 shards owned")
      expect(text).toMatch(new RegExp(`${runner.replaceAll(".", "\\.")}\\s+300 shards\\s+healthy\\s+heartbeat \\d+\\.\\d s ago`))
    }), { timeout: 180_000 })
})
