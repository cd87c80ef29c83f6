/**
 * `--json` on every command that lists or shows something: stdout holds the JSON and nothing else
 * (it parses whole), with the rows a table would show and more; what else a command says goes to
 * stderr. Runs the compiled CLI, on a database and a name prefix of the test's own.
 */
import { expect, layer } from "@effect/vitest"
import amqp from "amqplib"
import { Effect, Layer, Redacted } from "effect"
import { execFile, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { fileURLToPath } from "node:url"
import { OrderActors } from "../../src/aggregates.js"
import { declareTopology } from "../../src/messaging/rabbitTopology.js"
import * as QuarantineStore from "../../src/quarantine/QuarantineStore.js"
import { appOnEnvironment, messagingEnvironment, settings, TestMessaging } from "../support/messaging.js"
import { notificationQueuesRemoved } from "../support/notifications.js"
import { options, placeOrder } from "../support/orders.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const compiledCli = ["--enable-source-maps", "dist/cli/main.js"]

/**
 * Runs `actors <args>` (compiled: `make build` first, as `make test` does; starting through tsx costs
 * seconds each time) on the test's database and prefix; gives its exit code, stdout and stderr apart.
 */
const cli = (args: ReadonlyArray<string>) =>
  Effect.flatMap(TestMessaging, (env) =>
    Effect.async<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resume) => {
      const child = execFile(process.execPath, [...compiledCli, ...args], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix, LOG_FORMAT: "logfmt" },
        maxBuffer: 64 * 1024 * 1024
      }, (error, stdout, stderr) => resume(Effect.succeed({ code: error === null ? 0 : Number(error.code ?? 1), stdout, stderr })))
      return Effect.sync(() => void child.kill("SIGKILL"))
    }))

/** `actors <args> --json`, which must succeed with JSON alone on stdout; gives it parsed. */
const json = (args: ReadonlyArray<string>) =>
  Effect.map(cli([...args, "--json"]), (run) => {
    expect(run.code, run.stderr).toBe(0)
    expect(() => JSON.parse(run.stdout), `stdout is not JSON alone:\n${run.stdout}`).not.toThrow()
    return JSON.parse(run.stdout) as any
  })

/** A task in the environment's dead-letter queue, as a worker leaves one there. */
const deadLetter = (eventId: string) =>
  Effect.flatMap(TestMessaging, (env) =>
    Effect.promise(async () => {
      const connection = await amqp.connect(Redacted.value(settings.amqp.url))
      try {
        const channel = await connection.createConfirmChannel()
        await declareTopology(channel, env.names, ["order"])
        await channel.assertQueue(env.names.deadLetterQueue, { durable: true, arguments: { "x-queue-type": "quorum" } })
        channel.sendToQueue(env.names.deadLetterQueue, Buffer.from(JSON.stringify({ eventId })), {
          messageId: eventId,
          headers: {
            "x-dead-letter-reason": "the gateway refused it: 400",
            "x-attempts": 5,
            "x-original-routing-key": "order.OrderShipped",
            "x-dead-lettered-at": "2026-01-02T03:04:05.000Z"
          }
        })
        await channel.waitForConfirms()
      } finally {
        await connection.close()
      }
    }))

const Environment = Layer.merge(QuarantineStore.layer, notificationQueuesRemoved).pipe(
  Layer.provideMerge(appOnEnvironment({ relay: false })),
  Layer.provideMerge(messagingEnvironment)
)

layer(Environment, { excludeTestServices: true, timeout: "120 seconds" })("--json", (it) => {
  it.effect("events stream, events all and events state print the events and the state as JSON", () =>
    Effect.gen(function*() {
      const orders = yield* OrderActors
      const orderId = randomUUID()
      yield* orders.execute(orderId, placeOrder(), options())

      const [stream, all, state, none] = yield* Effect.all([
        json(["events", "stream", orderId]),
        json(["events", "all", "--after", "0"]),
        json(["events", "state", orderId]),
        json(["events", "stream", randomUUID()])
      ], { concurrency: "unbounded" })
      expect(stream).toEqual([expect.objectContaining({ streamId: orderId, streamType: "order", version: 1, type: "OrderPlaced" })])
      expect(stream[0]).toMatchObject({ globalPosition: expect.any(Number), eventId: expect.any(String), recordedAt: expect.any(String) })
      expect(all).toContainEqual(stream[0])
      expect(state).toMatchObject({ version: 1, state: expect.any(Object) })
      expect(none).toEqual([])
    }), 180_000)

  it.effect("events tail prints the log filtered, one JSON document a line; with --follow it prints events as they commit", () =>
    Effect.gen(function*() {
      const orders = yield* OrderActors
      const env = yield* TestMessaging
      const before = randomUUID()
      yield* orders.execute(before, placeOrder(), options())
      const lines = (text: string) => text.trim().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))
      const tail = yield* cli(["events", "tail", "--after", "0", "--type", "OrderPlaced", "--json"])
      expect(tail.code, tail.stderr).toBe(0)
      expect(lines(tail.stdout)).toContainEqual(expect.objectContaining({ streamId: before, type: "OrderPlaced" }))
      expect(lines(tail.stdout).every((event) => event.type === "OrderPlaced")).toBe(true)

      // Following: started before the order is placed, it prints it once committed.
      const after = randomUUID()
      const printed = yield* Effect.async<string>((resume) => {
        const child = spawn(process.execPath, [...compiledCli, "events", "tail", "--follow", "--stream-type", "order", "--json"], {
          cwd: root,
          env: { ...process.env, DATABASE_URL: env.databaseUrl, MESSAGING_PREFIX: env.prefix, LOG_FORMAT: "logfmt" }
        })
        let out = ""
        let placed = false
        // Once it says it follows (it has read the log's head), the order is committed after that head.
        child.stderr.on("data", (chunk: Buffer) => {
          if (placed || !chunk.toString().includes("following the log after position")) return
          placed = true
          Effect.runFork(orders.execute(after, placeOrder(), options()))
        })
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString()
          if (out.includes(after)) {
            child.kill("SIGTERM")
            resume(Effect.succeed(out))
          }
        })
        return Effect.sync(() => void child.kill("SIGKILL"))
      }).pipe(Effect.timeout("60 seconds"))
      const followed = lines(printed)
      expect(followed.filter((event) => event.streamId === after).map((event) => event.type)).toEqual(["OrderPlaced"])
      // It started at the head: nothing from before it started.
      expect(followed.some((event) => event.streamId === before)).toBe(false)
    }), 180_000)

  it.effect("quarantine list and dlq list print their rows as JSON; an empty one (or a queue not declared yet) prints []", () =>
    Effect.gen(function*() {
      // No worker has declared the dead-letter queue of this prefix yet: it holds nothing.
      const [emptyQuarantine, emptySagas, noDeadLetters] = yield* Effect.all(
        [json(["quarantine", "list"]), json(["sagas", "list", "--all"]), json(["dlq", "list"])],
        { concurrency: "unbounded" }
      )
      expect(emptyQuarantine).toEqual([])
      expect(emptySagas).toEqual([])
      expect(noDeadLetters).toEqual([])

      const quarantine = yield* QuarantineStore.QuarantineStore
      const marker = randomUUID()
      yield* quarantine.park({ source: QuarantineStore.projectorSource("order_summaries"), reason: `${marker} cannot be read`, received: "{" })
      const eventId = randomUUID()
      yield* deadLetter(eventId)

      const [parked, letters] = yield* Effect.all([json(["quarantine", "list"]), json(["dlq", "list"])], { concurrency: "unbounded" })
      expect(parked).toEqual([{
        id: expect.any(Number),
        source: "projector:order_summaries",
        globalPosition: null,
        reason: `${marker} cannot be read`,
        received: "{",
        quarantinedAt: expect.any(String),
        retriedAt: null
      }])
      expect(letters).toEqual([{
        eventId,
        routingKey: "order.OrderShipped",
        reason: "the gateway refused it: 400",
        attempts: 5,
        deadLetteredAt: "2026-01-02T03:04:05.000Z",
        content: JSON.stringify({ eventId })
      }])

      // Without --json, the same rows as a table, for people.
      const table = yield* cli(["dlq", "list"])
      expect(table.stdout).toContain(`${eventId}\torder.OrderShipped\tattempts=5`)
    }), 180_000)
})
