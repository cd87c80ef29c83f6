/**
 * Every role's ops server, as real processes: /ready is 200 once its dependencies answer (the relay
 * says whether it is active or standing by), and 503 naming what does not answer — here the relay's
 * database, cut by a toxiproxy of the test's own — until it answers again. Broker cuts are in
 * test/faults/readiness-brokers.test.ts.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { toxiproxy } from "../support/faults/toxiproxy.js"
import { messagingEnvironment, TestMessaging } from "../support/messaging.js"
import { notificationQueuesRemoved, pushGatewayLayer, TestPushGateway, workerProcess } from "../support/notifications.js"
import { projectorWithOps, readyAnswers, readyOf, relayWithOps } from "../support/readiness.js"

const Environment = notificationQueuesRemoved.pipe(Layer.provideMerge(Layer.merge(messagingEnvironment, pushGatewayLayer)))

layer(Environment, { excludeTestServices: true })("readiness of every role", (it) => {
  it.scoped("relay (active and standby), projector and worker are ready once their dependencies answer", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const active = yield* relayWithOps(env)
      const activeReady = yield* readyAnswers(active.port, 200)
      expect(activeReady.body).toMatchObject({ status: "ready", relay: "active" })
      expect(activeReady.body.checked).toEqual(["database", "kafka", "rabbitmq", "relay"])
      const standby = yield* relayWithOps(env)
      expect((yield* readyAnswers(standby.port, 200)).body).toMatchObject({ status: "ready", relay: "standby" })

      const projector = yield* projectorWithOps(env)
      expect((yield* readyAnswers(projector.port, 200)).body).toMatchObject({ status: "ready", projector: "member" })

      const worker = yield* workerProcess(env, push)
      expect((yield* readyAnswers(worker.port, 200)).body).toMatchObject({ status: "ready", checked: ["database", "rabbitmq"] })

      // The standby takes over when the active relay goes, and /ready says so.
      yield* active.process.kill("SIGKILL")
      yield* readyAnswers(standby.port, 200, (answer) => answer.body.relay === "active")
    }), { timeout: 180_000 })

  it.scoped("the relay's database cut: 503 naming it within seconds, /health still ok, and 200 once it is back", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const database = new URL(env.databaseUrl)
      const proxy = yield* Effect.flatMap(toxiproxy, (server) =>
        server.proxy(`pg-ready-${randomUUID().slice(0, 8)}`, `${database.hostname}:${database.port || 5432}`))
      const throughProxy = new URL(env.databaseUrl)
      throughProxy.hostname = "127.0.0.1"
      throughProxy.port = String(proxy.port)
      const relay = yield* relayWithOps(env, { DATABASE_URL: throughProxy.toString() })
      yield* readyAnswers(relay.port, 200)

      yield* proxy.halfOpen
      const started = Date.now()
      const notReady = yield* readyAnswers(relay.port, 503)
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(notReady.body).toMatchObject({ error: "not_ready", message: expect.stringMatching(/database/) })
      const health = yield* Effect.promise(() => fetch(`http://127.0.0.1:${relay.port}/health`))
      expect(health.status).toBe(200)

      yield* proxy.heal
      yield* readyAnswers(relay.port, 200)
      // One answer is not a fluke: it stays ready.
      expect((yield* readyOf(relay.port)).status).toBe(200)
    }), { timeout: 120_000 })
})
