/**
 * `make bench-worker`: what one notification worker process delivers.
 *
 * 1. Throughput: `--tasks` tasks wait in the push queue; one worker process starts (the CLI's
 *    `worker`, default settings) against a local push provider that answers at once; tasks/s until
 *    the provider has shown every push. Floor, in the same run: a bare amqplib consumer with the same
 *    prefetch and concurrency that POSTs each task and acks it — no decoding, no delivery record.
 * 2. Command → push latency: order lives through the actor runtime at `--rate` commands/s, the relay
 *    in the same process and the worker process beside it; for each notifying command, the time from
 *    sending the command to the provider receiving its push.
 *
 *   node --import tsx bench/worker.ts [--tasks 20000] [--rate 200] [--seconds 20] [--warmup 3]
 */
import amqp from "amqplib"
import { Duration, Effect, Layer, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { parseArgs } from "node:util"
import { RelayLive, StoreLive } from "../src/app.js"
import { AppConfig } from "../src/config.js"
import { type DevPushGateway, startDevPushGateway } from "../src/notifications/DevPushGateway.js"
import type { NotificationTask, Topology } from "../src/messaging/contracts.js"
import { declareTopology } from "../src/messaging/rabbitTopology.js"
import { runPrefix, settings } from "./lib/brokers.js"
import { freshDatabase } from "./lib/database.js"
import { steadyLoad } from "./lib/load.js"
import { startCli } from "./lib/processes.js"
import { withProgress } from "./lib/progress.js"
import { markdownTable, runBenchmark } from "./lib/report.js"
import { percentiles, type Percentiles, perSecond, ratio } from "./lib/stats.js"

export interface WorkerBenchSettings {
  readonly tasks: number
  readonly rate: number
  readonly seconds: number
  readonly warmupSeconds: number
  readonly quiet: boolean
}

const task = (): NotificationTask => ({
  taskVersion: 1,
  eventId: randomUUID(),
  streamType: "order",
  streamId: randomUUID(),
  version: 5,
  notification: "shipped",
  customerId: randomUUID(),
  details: { carrier: "DHL", trackingNumber: "JD014600003958" },
  recordedAt: new Date().toISOString(),
  correlationId: randomUUID()
})

const pushGateway = (onDelivered?: Parameters<typeof startDevPushGateway>[0] extends infer O ? O extends { onDelivered?: infer F } ? F : never : never) =>
  Effect.acquireRelease(
    Effect.promise(() => startDevPushGateway(onDelivered === undefined ? {} : { onDelivered })),
    (gateway) => Effect.promise(() => gateway.close())
  )

/** Publishes the tasks to the exchange, confirmed, in batches. */
const fillQueue = (names: Topology, tasks: ReadonlyArray<NotificationTask>, quiet: boolean) =>
  withProgress("filling the push queue", tasks.length, quiet, (progress) =>
    Effect.promise(async () => {
      const connection = await amqp.connect(Redacted.value(settings.amqp.url))
      try {
        const channel = await connection.createConfirmChannel()
        await declareTopology(channel, names, ["order"])
        for (let i = 0; i < tasks.length; i += 1000) {
          for (const next of tasks.slice(i, i + 1000)) {
            channel.publish(names.notificationsExchange, "order.shipped", Buffer.from(JSON.stringify(next)), {
              persistent: true,
              messageId: next.eventId,
              contentType: "application/json"
            })
          }
          await channel.waitForConfirms()
          progress.update(Math.min(tasks.length, i + 1000), { unit: "tasks", detail: "" })
        }
      } finally {
        await connection.close()
      }
    }))

const waitForPushes = (gateway: DevPushGateway, count: number, title: string, quiet: boolean) =>
  withProgress(title, count, quiet, (progress) =>
    Effect.promise(async () => {
      const started = Date.now()
      while (gateway.delivered.length < count) {
        progress.update(gateway.delivered.length, {
          unit: "pushes",
          detail: `${perSecond(gateway.delivered.length, Date.now() - started)} tasks/s`
        })
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      progress.update(count, { unit: "pushes", detail: "" })
    }))

const workerEnv = (databaseUrl: string, prefix: string, gateway: DevPushGateway) => ({
  DATABASE_URL: databaseUrl,
  MESSAGING_PREFIX: prefix,
  PUSH_GATEWAY_URL: gateway.url,
  WORKER_PORT: "0"
})

/** One worker process draining a full queue. */
const workerThroughput = (options: WorkerBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("worker_throughput")
    const { names, prefix } = yield* runPrefix("worker")
    const gateway = yield* pushGateway()
    yield* fillQueue(names, Array.from({ length: options.tasks }, task), options.quiet)
    const worker = yield* startCli(["worker"], workerEnv(database.url, prefix, gateway))
    yield* worker.waitForLine(/worker consuming/, 60_000)
    const started = Date.now()
    yield* waitForPushes(gateway, options.tasks, "one worker process", options.quiet)
    return { tasks: options.tasks, millis: Date.now() - started }
  }).pipe(Effect.scoped)

/** The floor: a bare consumer that POSTs and acks, same prefetch and concurrency. */
const bareThroughput = (options: WorkerBenchSettings) =>
  Effect.gen(function*() {
    const { names } = yield* runPrefix("worker-floor")
    const gateway = yield* pushGateway()
    yield* fillQueue(names, Array.from({ length: options.tasks }, task), options.quiet)
    const started = Date.now()
    yield* Effect.acquireUseRelease(
      Effect.promise(async () => {
        const connection = await amqp.connect(Redacted.value(settings.amqp.url))
        const channel = await connection.createChannel()
        await channel.prefetch(settings.worker.prefetch)
        let running = 0
        const waiting: Array<amqp.ConsumeMessage> = []
        const next = () => {
          while (running < settings.worker.concurrency && waiting.length > 0) {
            const message = waiting.shift()!
            running++
            const body = JSON.parse(message.content.toString())
            void fetch(gateway.url, {
              method: "POST",
              headers: { "content-type": "application/json", "idempotency-key": body.eventId },
              body: JSON.stringify({ to: body.customerId, title: "Your order is on its way", body: "Shipped.", data: body })
            }).then(async (response) => {
              await response.arrayBuffer()
              // The last acks may race the channel's close at the end; the count is taken already.
              try {
                channel.ack(message)
              } catch {
                // closing
              }
              running--
              next()
            })
          }
        }
        await channel.consume(names.pushQueue, (message) => {
          if (message !== null) {
            waiting.push(message)
            next()
          }
        })
        return connection
      }),
      () => waitForPushes(gateway, options.tasks, "bare consumer (floor)", options.quiet),
      (connection) => Effect.promise(() => connection.close().catch(() => undefined))
    )
    return { tasks: options.tasks, millis: Date.now() - started }
  }).pipe(Effect.scoped)

/** The steps of an order's life that notify its customer, and what they are called. */
const NOTIFYING_STEPS = new Map([[2, "confirmed"], [3, "payment-pending"], [4, "paid"], [5, "shipped"], [6, "delivered"]])

/** Commands through the runtime at a steady rate; command sent → push received, per notification. */
const commandToPush = (options: WorkerBenchSettings) =>
  Effect.gen(function*() {
    const database = yield* freshDatabase("worker_latency")
    const { names: _names, prefix } = yield* runPrefix("worker-latency")
    const sentAt = new Map<string, number>()
    const samples: Array<number> = []
    let recording = false
    const gateway = yield* pushGateway((push) => {
      const key = `${push.body.data.streamId}/${push.body.data.notification}`
      const sent = sentAt.get(key)
      if (sent !== undefined && recording) samples.push(push.at - sent)
    })
    const worker = yield* startCli(["worker"], workerEnv(database.url, prefix, gateway))
    yield* worker.waitForLine(/worker consuming/, 60_000)
    const config = Layer.effect(
      AppConfig,
      Effect.map(AppConfig, (base) => ({
        ...base,
        database: { ...base.database, url: Redacted.make(database.url), maxConnections: 16 },
        messagingPrefix: prefix
      }))
    ).pipe(Layer.provide(AppConfig.layer))
    yield* Effect.gen(function*() {
      const seconds = options.warmupSeconds + options.seconds
      yield* Effect.forkScoped(Effect.sleep(Duration.seconds(options.warmupSeconds)).pipe(Effect.zipRight(Effect.sync(() => (recording = true)))))
      yield* withProgress(`commands at ${options.rate}/s, worker beside`, options.rate * seconds, options.quiet, (progress) =>
        steadyLoad(
          options.rate,
          seconds,
          (issued) => progress.update(issued, { unit: "commands", detail: `${gateway.delivered.length} pushes` }),
          () => undefined,
          (orderId, step, dueAt) => {
            const notification = NOTIFYING_STEPS.get(step)
            if (notification !== undefined) sentAt.set(`${orderId}/${notification}`, dueAt)
          }
        ))
      // Let the last pushes arrive.
      const expected = [...sentAt.keys()].length
      yield* Effect.promise(async () => {
        const deadline = Date.now() + 30_000
        while (gateway.delivered.length < expected && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      })
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(StoreLive, RelayLive).pipe(Layer.provide(config))))
    return percentiles(samples)
  }).pipe(Effect.scoped)

export interface WorkerBenchResult {
  readonly worker: { readonly tasks: number; readonly millis: number }
  readonly floor: { readonly tasks: number; readonly millis: number }
  readonly latency: Percentiles
}

export const runWorkerBench = (options: WorkerBenchSettings) =>
  Effect.gen(function*() {
    const worker = yield* workerThroughput(options)
    const floor = yield* bareThroughput(options)
    const latency = yield* commandToPush(options)
    return { worker, floor, latency } satisfies WorkerBenchResult
  })

export const workerRows = (result: WorkerBenchResult) => [
  { kind: "throughput", mode: "worker", tasks: result.worker.tasks, seconds: result.worker.millis / 1000, tasksPerSecond: perSecond(result.worker.tasks, result.worker.millis) },
  { kind: "throughput", mode: "floor", tasks: result.floor.tasks, seconds: result.floor.millis / 1000, tasksPerSecond: perSecond(result.floor.tasks, result.floor.millis) },
  { kind: "latency", mode: "command-to-push", ...result.latency }
]

export const workerMarkdown = (options: WorkerBenchSettings, result: WorkerBenchResult) => {
  const workerRate = perSecond(result.worker.tasks, result.worker.millis)
  const floorRate = perSecond(result.floor.tasks, result.floor.millis)
  return [
    `### Notification worker: one process, ${result.worker.tasks} tasks, a provider that answers at once`,
    "",
    markdownTable(["", "tasks/s", "seconds", "÷ floor"], [
      ["worker process (claim, render, push, record, ack)", workerRate, (result.worker.millis / 1000).toFixed(2), ratio(workerRate, floorRate)],
      ["floor: bare consumer (POST, ack)", floorRate, (result.floor.millis / 1000).toFixed(2), 1]
    ]),
    "",
    `### Command → push at ${options.rate} commands/s (${options.seconds} s after ${options.warmupSeconds} s warm-up)`,
    "",
    markdownTable(["", "p50 ms", "p95 ms", "p99 ms", "pushes"], [
      ["command sent → push received", result.latency.p50Ms, result.latency.p95Ms, result.latency.p99Ms, result.latency.samples]
    ])
  ].join("\n")
}

const main = Effect.gen(function*() {
  const { values } = parseArgs({
    options: {
      tasks: { type: "string", default: "20000" },
      rate: { type: "string", default: "200" },
      seconds: { type: "string", default: "20" },
      warmup: { type: "string", default: "3" }
    }
  })
  const options: WorkerBenchSettings = {
    tasks: Number(values.tasks),
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    warmupSeconds: Number(values.warmup),
    quiet: false
  }
  const result = yield* runWorkerBench(options)
  return { settings: { ...options }, rows: workerRows(result), markdown: workerMarkdown(options, result) }
})

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark("worker", main)
