/**
 * Readiness probe for the local services.
 *
 *   npx tsx scripts/wait-for-services.ts [pg] [rabbitmq] [kafka] [--timeout=SECONDS]
 *
 * With no service named it checks all three. Each check really talks to the
 * service, with the same settings the application uses:
 *   pg        `SELECT 1` over DATABASE_URL      (default postgres://postgres:postgres@127.0.0.1:5432/actors)
 *   rabbitmq  AMQP connection + channel, AMQP_URL (default amqp://guest:guest@127.0.0.1:5672)
 *   kafka     admin describeCluster, KAFKA_BROKERS (default 127.0.0.1:9092, comma-separated)
 * and retries until one deadline (default 90 s; --timeout=N or WAIT_TIMEOUT_S=N).
 * Exits 0 when every named service answered; otherwise prints, for each one
 * that did not, its last error and where its log is, and exits 1 (2 on bad usage).
 */
import { existsSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= "1"

type ServiceName = "pg" | "rabbitmq" | "kafka"

const ALIASES: Record<string, ServiceName> = {
  pg: "pg",
  postgres: "pg",
  postgresql: "pg",
  rabbitmq: "rabbitmq",
  rabbit: "rabbitmq",
  amqp: "rabbitmq",
  kafka: "kafka",
}

const LABEL: Record<ServiceName, string> = { pg: "postgres", rabbitmq: "rabbitmq", kafka: "kafka" }

const DATABASE_URL = process.env.DATABASE_URL || "postgres://postgres:postgres@127.0.0.1:5432/actors"
const AMQP_URL = process.env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672"
const KAFKA_BROKERS = (process.env.KAFKA_BROKERS || "127.0.0.1:9092")
  .split(",")
  .map((b) => b.trim())
  .filter((b) => b.length > 0)

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

/** Where to look when a service does not answer (paths relative to the repo root). */
function logHint(service: ServiceName): string {
  const composeService = { pg: "postgres", rabbitmq: "rabbitmq", kafka: "kafka" }[service]
  if (existsSync(path.join(repoRoot, ".data", "compose-used"))) {
    return `docker compose logs ${composeService}`
  }
  return {
    pg: ".data/pg/postgres.log",
    rabbitmq: ".data/rabbitmq/log/rabbit@localhost.log (startup: .data/rabbitmq/log/startup.log)",
    kafka: ".data/kafka/logs/server.log (stdout: .data/kafka/logs/kafka.out)",
  }[service]
}

/** Hide credentials when echoing a URL. */
function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = "***"
    return u.toString()
  } catch {
    return url
  }
}

function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    return err.errors.map(errorText).join("; ")
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    const msg = err.message || err.name
    return typeof code === "string" && !msg.includes(code) ? `${code}: ${msg}` : msg
  }
  return String(err)
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** One attempt per call; resolves with a short description of what answered. */
const attempts: Record<ServiceName, (budgetMs: number) => Promise<string>> = {
  async pg(budgetMs) {
    const { Client } = await import("pg")
    const client = new Client({
      connectionString: DATABASE_URL,
      connectionTimeoutMillis: Math.min(3000, budgetMs),
      query_timeout: Math.min(5000, budgetMs),
    })
    client.on("error", () => {})
    try {
      await withTimeout(client.connect(), Math.min(5000, budgetMs), "connect")
      const res = await client.query<{ ok: number; db: string }>(
        "SELECT 1 AS ok, current_database() AS db",
      )
      if (res.rows[0]?.ok !== 1) throw new Error("SELECT 1 returned something else")
      return `SELECT 1 ok (database ${res.rows[0].db})`
    } finally {
      await client.end().catch(() => {})
    }
  },

  async rabbitmq(budgetMs) {
    const { connect } = await import("amqplib")
    const conn = await withTimeout(
      connect(AMQP_URL, { timeout: Math.min(3000, budgetMs) }),
      Math.min(5000, budgetMs),
      "connect",
    )
    conn.on("error", () => {})
    try {
      const channel = await withTimeout(conn.createChannel(), Math.min(5000, budgetMs), "channel")
      await channel.close()
      return "AMQP connection and channel opened"
    } finally {
      await conn.close().catch(() => {})
    }
  },

  async kafka(budgetMs) {
    const { Kafka, logLevel } = await import("kafkajs")
    const kafka = new Kafka({
      clientId: "wait-for-services",
      brokers: KAFKA_BROKERS,
      logLevel: logLevel.NOTHING,
      connectionTimeout: Math.min(3000, budgetMs),
      requestTimeout: Math.min(5000, budgetMs),
      retry: { retries: 0 },
    })
    const admin = kafka.admin({ retry: { retries: 0 } })
    try {
      await withTimeout(admin.connect(), Math.min(5000, budgetMs), "connect")
      const cluster = await withTimeout(admin.describeCluster(), Math.min(6000, budgetMs), "describeCluster")
      if (cluster.brokers.length === 0) throw new Error("metadata lists no broker yet")
      const n = cluster.brokers.length
      return `cluster ${cluster.clusterId}, ${n} broker${n === 1 ? "" : "s"}, controller ${cluster.controller}`
    } finally {
      await admin.disconnect().catch(() => {})
    }
  },
}

const TARGET: Record<ServiceName, string> = {
  pg: redact(DATABASE_URL),
  rabbitmq: redact(AMQP_URL),
  kafka: KAFKA_BROKERS.join(","),
}

interface Outcome {
  service: ServiceName
  ok: boolean
  detail: string
  seconds: number
}

async function waitFor(service: ServiceName, deadline: number, started: number): Promise<Outcome> {
  let lastError = "no attempt made"
  for (;;) {
    const budget = deadline - Date.now()
    if (budget <= 0) break
    try {
      const detail = await attempts[service](Math.max(budget, 500))
      return { service, ok: true, detail, seconds: (Date.now() - started) / 1000 }
    } catch (err) {
      lastError = errorText(err)
    }
    if (Date.now() + 1000 >= deadline) break
    await sleep(1000)
  }
  return { service, ok: false, detail: lastError, seconds: (Date.now() - started) / 1000 }
}

function usage(message: string): never {
  console.error(`wait-for-services: ${message}`)
  console.error("usage: npx tsx scripts/wait-for-services.ts [pg|rabbitmq|kafka ...] [--timeout=SECONDS]")
  process.exit(2)
}

async function main(): Promise<void> {
  let timeoutS = Number(process.env.WAIT_TIMEOUT_S || 90)
  const wanted: ServiceName[] = []
  const args = process.argv.slice(2)
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ""
    if (arg === "--timeout" || arg.startsWith("--timeout=")) {
      const value = arg === "--timeout" ? args[++i] : arg.slice("--timeout=".length)
      timeoutS = Number(value)
      continue
    }
    if (arg === "-h" || arg === "--help") {
      console.log("usage: npx tsx scripts/wait-for-services.ts [pg|rabbitmq|kafka ...] [--timeout=SECONDS]")
      process.exit(0)
    }
    const service = ALIASES[arg.toLowerCase()]
    if (!service) usage(`unknown service '${arg}'`)
    if (!wanted.includes(service)) wanted.push(service)
  }
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) usage("the timeout must be a positive number of seconds")
  const services = wanted.length > 0 ? wanted : (["pg", "rabbitmq", "kafka"] as ServiceName[])

  const started = Date.now()
  const deadline = started + timeoutS * 1000
  const outcomes = await Promise.all(
    services.map(async (service) => {
      const outcome = await waitFor(service, deadline, started)
      if (outcome.ok) {
        console.log(`${LABEL[service]}: answering at ${TARGET[service]}: ${outcome.detail} (${outcome.seconds.toFixed(1)} s)`)
      }
      return outcome
    }),
  )

  const failed = outcomes.filter((o) => !o.ok)
  for (const o of failed) {
    console.error(
      `${LABEL[o.service]}: NOT answering at ${TARGET[o.service]} after ${timeoutS} s: ${o.detail}\n` +
        `  log: ${logHint(o.service)}`,
    )
  }
  if (failed.length > 0) {
    console.error(`not ready: ${failed.map((o) => LABEL[o.service]).join(", ")}`)
  }
  // kafkajs and amqplib can leave sockets/timers behind after a failed attempt.
  process.exit(failed.length > 0 ? 1 : 0)
}

main().catch((err) => {
  console.error(`wait-for-services: ${errorText(err)}`)
  process.exit(1)
})
