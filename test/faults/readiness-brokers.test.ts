/**
 * /ready when a broker stops answering, with the processes reaching it through toxiproxy: Kafka cut
 * for the relay and the projector, RabbitMQ cut for the relay and the worker. Each answers 503 naming
 * the broker within seconds (never hangs), and 200 again once the broker is back.
 */
import { expect, layer } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { toxiproxy } from "../support/faults/toxiproxy.js"
import { messagingEnvironment, settings, TestMessaging } from "../support/messaging.js"
import { notificationQueuesRemoved, pushGatewayLayer, TestPushGateway, workerProcess } from "../support/notifications.js"
import { projectorWithOps, readyAnswers, relayWithOps } from "../support/readiness.js"

/** Where the broker's FAULTS listener says it is (scripts/kafka/server.properties): the proxy listens there. */
const KAFKA_THROUGH_PROXY = 19_094

const Environment = notificationQueuesRemoved.pipe(Layer.provideMerge(Layer.merge(messagingEnvironment, pushGatewayLayer)))

/** 503 naming `what`, within 10 s of the cut. */
const notReadyWithin10s = (port: number, what: RegExp) =>
  Effect.gen(function*() {
    const started = Date.now()
    const answer = yield* readyAnswers(port, 503, (answer) => what.test(String(answer.body.message)))
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(answer.body.error).toBe("not_ready")
  })

layer(Environment, { excludeTestServices: true })("readiness when a broker is cut", (it) => {
  it.scoped("Kafka cut: the relay and the projector answer 503 naming it, and 200 once it is back", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const kafka = yield* Effect.flatMap(toxiproxy, (server) => server.proxy("kafka-faults", "127.0.0.1:9094", KAFKA_THROUGH_PROXY))
      const throughProxy = { KAFKA_BROKERS: `127.0.0.1:${KAFKA_THROUGH_PROXY}` }
      const relay = yield* relayWithOps(env, throughProxy)
      const projector = yield* projectorWithOps(env, throughProxy)
      yield* readyAnswers(relay.port, 200)
      yield* readyAnswers(projector.port, 200, (answer) => answer.body.projector === "member")

      yield* kafka.disable
      yield* notReadyWithin10s(relay.port, /kafka/)
      yield* notReadyWithin10s(projector.port, /kafka/)

      yield* kafka.enable
      expect((yield* readyAnswers(relay.port, 200)).body).toMatchObject({ relay: "active" })
      expect((yield* readyAnswers(projector.port, 200)).body).toMatchObject({ projector: "member" })
    }), { timeout: 180_000 })

  it.scoped("RabbitMQ cut: the relay and the worker answer 503 naming it, and 200 once it is back", () =>
    Effect.gen(function*() {
      const env = yield* TestMessaging
      const push = yield* TestPushGateway
      const upstream = new URL(Redacted.value(settings.amqp.url))
      const rabbit = yield* Effect.flatMap(toxiproxy, (server) =>
        server.proxy(`rabbitmq-ready-${randomUUID().slice(0, 8)}`, `${upstream.hostname}:${upstream.port || 5672}`))
      const throughProxy = new URL(upstream.toString())
      throughProxy.hostname = "127.0.0.1"
      throughProxy.port = String(rabbit.port)
      const amqp = { AMQP_URL: throughProxy.toString() }
      const relay = yield* relayWithOps(env, amqp)
      const worker = yield* workerProcess(env, push, amqp)
      yield* readyAnswers(relay.port, 200)
      yield* readyAnswers(worker.port, 200)

      yield* rabbit.disable
      yield* notReadyWithin10s(relay.port, /rabbitmq/i)
      yield* notReadyWithin10s(worker.port, /rabbitmq/i)

      yield* rabbit.enable
      yield* readyAnswers(relay.port, 200)
      yield* readyAnswers(worker.port, 200)
    }), { timeout: 180_000 })
})
