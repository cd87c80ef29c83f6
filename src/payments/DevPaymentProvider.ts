/**
 * A stand-in for a payment provider, for development, tests and benchmarks: it serves the provider's
 * HTTP API (authorizations, captures, voids, refunds, and a read of each payment), keeps its ledger in
 * memory, and shows that ledger to tests. The payment method steers it: `test-decline` is declined,
 * `test-timeout` is never answered, `test-late` is approved after `lateMillis`, anything else is
 * approved at once.
 *
 * Like real providers it honours `Idempotency-Key`: the first request of a key does the work and its
 * answer is kept; a repeat of the key (also while the first is still being worked on) gets that same
 * answer and does nothing again. A key reused for a different request is refused (422). A void stops
 * an authorization still in progress, and one that arrives before its authorization makes that
 * authorization declined, so a voided payment never holds or takes money. Money is taken once per
 * payment: only an approved payment is captured, once, for the authorized amount.
 * `make payment-sink` (`node dist/cli/main.js payment-sink --port 4100`) runs one that logs each operation.
 */
import { Either, ParseResult, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

export type PaymentOperation = "authorize" | "capture" | "void" | "refund"

export type PaymentStatus = "authorizing" | "approved" | "declined" | "voided" | "captured" | "refunded"

/** A payment as the provider's ledger holds it, as `GET /payments/<paymentId>` shows it. */
export interface LedgerPayment {
  readonly paymentId: string
  readonly status: PaymentStatus
  readonly amountCents: number
  /** Capture operations that took money. */
  readonly captures: number
  readonly refunds: number
  readonly capturedCents: number
  readonly refundedCents: number
  /** HTTP requests received per operation, repeats included. */
  readonly calls: Readonly<Record<PaymentOperation, number>>
}

/** One answered operation, or one left waiting on purpose. */
export interface PaymentEvent {
  readonly operation: PaymentOperation
  readonly paymentId: string
  readonly idempotencyKey: string
  /** A repeat of a key: answered with the first answer, nothing done again. */
  readonly repeat: boolean
  /** Absent while the answer is still to come (`test-late`) or will never come (`test-timeout`). */
  readonly httpStatus?: number
  readonly outcome: string
}

export interface DevPaymentProvider {
  /** The base URL, to use as PAYMENT_PROVIDER_URL. */
  readonly url: string
  /** A copy of the ledger's entry, or undefined when the provider never heard of the payment. */
  readonly payment: (paymentId: string) => LedgerPayment | undefined
  readonly payments: () => ReadonlyArray<LedgerPayment>
  /** Requests received and not answered yet (`test-timeout` ones stay until their client goes). */
  readonly openRequests: () => number
  /** Stops listening and ends every open request, unanswered. */
  readonly close: () => Promise<void>
}

interface Payment {
  paymentId: string
  status: PaymentStatus
  amountCents: number
  authorizationId: string | undefined
  captures: number
  refunds: number
  capturedCents: number
  refundedCents: number
  calls: Record<PaymentOperation, number>
}

interface Answer {
  readonly status: number
  readonly body: Readonly<Record<string, unknown>>
}

const PaymentId = Schema.NonEmptyTrimmedString
const Cents = Schema.Int.pipe(Schema.positive())

const bodies = {
  authorize: Schema.Struct({ paymentId: PaymentId, amountCents: Cents, currency: Schema.NonEmptyTrimmedString, method: Schema.String }),
  capture: Schema.Struct({ paymentId: PaymentId, authorizationId: Schema.NonEmptyTrimmedString, amountCents: Cents }),
  void: Schema.Struct({ paymentId: PaymentId }),
  refund: Schema.Struct({ paymentId: PaymentId, amountCents: Cents })
} as const

const routes: Record<string, PaymentOperation> = {
  "/authorizations": "authorize",
  "/captures": "capture",
  "/voids": "void",
  "/refunds": "refund"
}

const json = (status: number, body: Readonly<Record<string, unknown>>): Answer => ({ status, body })
const refused = (reason: string): Answer => json(409, { status: "refused", reason })
const declined = (reason: string): Answer => json(200, { status: "declined", reason })
const invalid = (field: string, reason: string): Answer => json(400, { status: "invalid", field, reason })

const describe = (answer: Answer): string => {
  const { status, reason, authorizationId, captureId, refundId } = answer.body
  const detail = reason ?? authorizationId ?? captureId ?? refundId
  return `${String(status)}${typeof reason === "string" ? ": " : " "}${detail === undefined ? "" : String(detail)}`.trim()
}

/** The first problem of a body, named by its field. */
const problemOf = (error: ParseResult.ParseError): Answer => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  const field = issue === undefined || issue.path.length === 0 ? "body" : issue.path.map(String).join(".")
  return invalid(field, `${field}: ${issue?.message ?? "invalid"}`)
}

export const startDevPaymentProvider = (options: {
  readonly port: number
  /** Default 127.0.0.1. */
  readonly host?: string
  /** How long a `test-late` authorization takes (default 10 s). */
  readonly lateMillis?: number
  readonly onEvent?: (event: PaymentEvent) => void
}): Promise<DevPaymentProvider> => {
  const host = options.host ?? "127.0.0.1"
  const lateMillis = options.lateMillis ?? 10_000
  const ledger = new Map<string, Payment>()
  /** The answer of each key, kept from its first request; `fingerprint` is what that request asked. */
  const answers = new Map<string, { readonly fingerprint: string; readonly answer: Promise<Answer> }>()
  const timers = new Set<NodeJS.Timeout>()
  const open = new Set<ServerResponse>()

  const view = (payment: Payment): LedgerPayment => ({
    paymentId: payment.paymentId,
    status: payment.status,
    amountCents: payment.amountCents,
    captures: payment.captures,
    refunds: payment.refunds,
    capturedCents: payment.capturedCents,
    refundedCents: payment.refundedCents,
    calls: { ...payment.calls }
  })

  const newPayment = (paymentId: string, status: PaymentStatus, amountCents: number): Payment => {
    const payment: Payment = {
      paymentId,
      status,
      amountCents,
      authorizationId: undefined,
      captures: 0,
      refunds: 0,
      capturedCents: 0,
      refundedCents: 0,
      calls: { authorize: 0, capture: 0, void: 0, refund: 0 }
    }
    ledger.set(paymentId, payment)
    return payment
  }

  /** An authorization ends approved unless its payment was voided meanwhile. */
  const completeAuthorization = (payment: Payment): Answer => {
    if (payment.status === "voided") return declined("payment voided before the authorization completed")
    payment.status = "approved"
    payment.authorizationId = `auth_${randomUUID()}`
    return json(200, { status: "approved", authorizationId: payment.authorizationId })
  }

  const authorize = (body: typeof bodies.authorize.Type): Answer | Promise<Answer> => {
    const known = ledger.get(body.paymentId)
    // Voided before its authorization arrived: the caller gave up on it, so it must hold nothing.
    if (known?.status === "voided") return declined("payment voided")
    if (known !== undefined) return refused(`payment ${body.paymentId} exists already (${known.status})`)
    const payment = newPayment(body.paymentId, "authorizing", body.amountCents)
    switch (body.method) {
      case "test-decline":
        payment.status = "declined"
        return declined("card declined")
      case "test-timeout":
        return new Promise<Answer>(() => undefined)
      case "test-late":
        return new Promise<Answer>((resolve) => {
          const timer = setTimeout(() => {
            timers.delete(timer)
            resolve(completeAuthorization(payment))
          }, lateMillis)
          timers.add(timer)
        })
      default:
        return completeAuthorization(payment)
    }
  }

  const capture = (body: typeof bodies.capture.Type): Answer => {
    const payment = ledger.get(body.paymentId)
    if (payment === undefined) return refused(`unknown payment ${body.paymentId}`)
    switch (payment.status) {
      case "authorizing":
        return refused("not authorized yet")
      case "declined":
        return refused("not authorized: the authorization was declined")
      case "voided":
        return refused("voided")
      case "captured":
      case "refunded":
        return refused("captured already")
      case "approved":
        break
    }
    if (body.authorizationId !== payment.authorizationId) return refused(`not authorized: unknown authorization ${body.authorizationId}`)
    if (body.amountCents !== payment.amountCents) {
      return refused(`amount differs: ${payment.amountCents} authorized, ${body.amountCents} asked`)
    }
    payment.status = "captured"
    payment.captures += 1
    payment.capturedCents = body.amountCents
    return json(200, { status: "captured", captureId: `cap_${randomUUID()}` })
  }

  const void_ = (body: typeof bodies.void.Type): Answer => {
    const payment = ledger.get(body.paymentId) ?? newPayment(body.paymentId, "voided", 0)
    switch (payment.status) {
      case "captured":
      case "refunded":
        return refused(`${payment.status}: refund it instead`)
      case "declined":
        // Nothing is held, nothing to release.
        break
      default:
        payment.status = "voided"
    }
    return json(200, { status: "voided" })
  }

  const refund = (body: typeof bodies.refund.Type): Answer => {
    const payment = ledger.get(body.paymentId)
    if (payment === undefined) return refused(`unknown payment ${body.paymentId}`)
    if (payment.status === "refunded") return refused("refunded already")
    if (payment.status !== "captured") return refused(`not captured (${payment.status})`)
    if (body.amountCents !== payment.capturedCents) {
      return refused(`amount differs: ${payment.capturedCents} captured, ${body.amountCents} asked`)
    }
    payment.status = "refunded"
    payment.refunds += 1
    payment.refundedCents = body.amountCents
    return json(200, { status: "refunded", refundId: `re_${randomUUID()}` })
  }

  /** A request's body, checked, with the work it asks for (not done yet). */
  interface Checked {
    readonly body: { readonly paymentId: string; readonly method?: string }
    readonly perform: () => Answer | Promise<Answer>
  }

  const check = (operation: PaymentOperation, input: unknown): Either.Either<Checked, ParseResult.ParseError> => {
    switch (operation) {
      case "authorize":
        return Either.map(Schema.decodeUnknownEither(bodies.authorize)(input), (body) => ({ body, perform: () => authorize(body) }))
      case "capture":
        return Either.map(Schema.decodeUnknownEither(bodies.capture)(input), (body) => ({ body, perform: () => capture(body) }))
      case "void":
        return Either.map(Schema.decodeUnknownEither(bodies.void)(input), (body) => ({ body, perform: () => void_(body) }))
      case "refund":
        return Either.map(Schema.decodeUnknownEither(bodies.refund)(input), (body) => ({ body, perform: () => refund(body) }))
    }
  }

  const reply = (response: ServerResponse, answer: Answer) => {
    // Its client may have gone meanwhile (gave up, or close() ended it).
    if (response.destroyed || response.writableEnded) return
    response.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body))
  }

  const operate = (operation: PaymentOperation, request: IncomingMessage, raw: string): Answer | Promise<Answer> => {
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch {
      return invalid("body", "body is not JSON")
    }
    const checked = check(operation, parsed)
    if (Either.isLeft(checked)) return problemOf(checked.left)
    const header = request.headers["idempotency-key"]
    const idempotencyKey = typeof header === "string" ? header.trim() : ""
    if (idempotencyKey === "") return invalid("Idempotency-Key", "Idempotency-Key: the header is missing")
    const { body, perform } = checked.right
    const paymentId = body.paymentId
    const count = () => {
      const payment = ledger.get(paymentId)
      if (payment !== undefined) payment.calls[operation] += 1
    }
    const fingerprint = JSON.stringify([operation, body])
    const event = (repeat: boolean) => (answer: Answer) => {
      options.onEvent?.({ operation, paymentId, idempotencyKey, repeat, httpStatus: answer.status, outcome: describe(answer) })
      return answer
    }
    const kept = answers.get(idempotencyKey)
    if (kept !== undefined) {
      count()
      if (kept.fingerprint !== fingerprint) {
        return event(true)(json(422, { status: "refused", reason: `Idempotency-Key ${idempotencyKey} was used for a different request` }))
      }
      return kept.answer.then(event(true))
    }
    const outcome = perform()
    const answer = Promise.resolve(outcome)
    answers.set(idempotencyKey, { fingerprint, answer })
    count()
    if (outcome instanceof Promise) {
      const waiting = body.method === "test-timeout" ? "no answer, ever (test-timeout)" : `answers in ${lateMillis} ms (test-late)`
      options.onEvent?.({ operation, paymentId, idempotencyKey, repeat: false, outcome: waiting })
      return answer.then(event(false))
    }
    return event(false)(outcome)
  }

  const route = (request: IncomingMessage, raw: string): Answer | Promise<Answer> => {
    const path = new URL(request.url ?? "/", "http://provider").pathname
    if (request.method === "GET" && path === "/health") return json(200, { status: "ok" })
    if (request.method === "GET" && path.startsWith("/payments/")) {
      let paymentId: string
      try {
        paymentId = decodeURIComponent(path.slice("/payments/".length))
      } catch {
        return json(404, { status: "unknown", reason: "no such payment" })
      }
      const payment = ledger.get(paymentId)
      return payment === undefined ? json(404, { status: "unknown", reason: `no such payment: ${paymentId}` }) : json(200, { ...view(payment) })
    }
    const operation = routes[path]
    if (request.method === "POST" && operation !== undefined) return operate(operation, request, raw)
    return json(404, { status: "unknown", reason: `no such resource: ${request.method} ${path}` })
  }

  const server: Server = createServer((request, response) => {
    open.add(response)
    response.on("close", () => open.delete(response))
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const answer = route(request, Buffer.concat(chunks).toString("utf8"))
      if (answer instanceof Promise) void answer.then((answer) => reply(response, answer))
      else reply(response, answer)
    })
  })

  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port, host, () => {
      server.off("error", reject)
      const { port } = server.address() as AddressInfo
      resolve({
        url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
        payment: (paymentId) => {
          const payment = ledger.get(paymentId)
          return payment === undefined ? undefined : view(payment)
        },
        payments: () => [...ledger.values()].map(view),
        openRequests: () => open.size,
        close: () =>
          new Promise((done) => {
            for (const timer of timers) clearTimeout(timer)
            timers.clear()
            server.close(() => done())
            server.closeAllConnections()
            // Their sockets are destroyed now; their responses say so a tick later.
            open.clear()
          })
      })
    })
  })
}
