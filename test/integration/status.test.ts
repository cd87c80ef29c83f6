/** `status --json` tells the pipeline's state as it is: the backlog before a relay runs, the active relay once one does. */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { OrderActors } from "../../src/aggregates.js"
import { startCli } from "../../bench/lib/processes.js"
import { appOnEnvironment, messagingEnvironment, TestMessaging } from "../support/messaging.js"
import { options, placeOrder } from "../support/orders.js"

/** Runs `status --json` on the environment; gives what it printed, parsed. */
const statusNow = Effect.gen(function*() {
  const env = yield* TestMessaging
  const run = yield* startCli(["status", "--json"], { DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix })
  const exit = yield* run.exited
  expect(exit.code, run.lines.join("\n")).toBe(0)
  const text = run.lines.slice(run.lines.findIndex((line) => line === "{")).join("\n")
  return JSON.parse(text)
}).pipe(Effect.scoped)

layer(appOnEnvironment({ relay: false }).pipe(Layer.provideMerge(messagingEnvironment)), { excludeTestServices: true })("status", (it) => {
  it.scoped("shows the outbox backlog with no relay, then the active relay and the backlog drained", () =>
    Effect.gen(function*() {
      const orders = yield* OrderActors
      const orderId = randomUUID()
      yield* orders.execute(orderId, placeOrder(), options())
      const before = yield* statusNow
      expect(before).toMatchObject({
        activeRelay: { ok: true, value: null },
        outboxBacklog: { ok: true, value: { events: 1, notifications: 0 } },
        deadLetters: { ok: true, value: 0 },
        quarantined: { ok: true, value: 0 },
        stuckDeliveries: { ok: true, value: 0 }
      })

      const env = yield* TestMessaging
      const relay = yield* startCli(["relay"], { DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix, OUTBOX_POLL_INTERVAL: "200 millis" })
      yield* relay.waitForLine(/outbox relay active/, 60_000)
      const after = yield* statusNow.pipe(
        Effect.filterOrFail((status) => status.outboxBacklog.value?.events === 0, () => "not drained yet"),
        Effect.retry(Schedule.spaced("500 millis").pipe(Schedule.upTo("30 seconds")))
      )
      expect(after.activeRelay).toMatchObject({ ok: true, value: { pid: expect.any(Number) } })
      expect(after.projectorLag.ok).toBe(true)
    }), { timeout: 120_000 })
})
