/**
 * The payment provider client against the development stand-in, over real HTTP on a free port: the
 * answers, the timeouts whose outcome a void settles, and the Idempotency-Key that takes money once.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Clock, Context, Duration, Effect, Fiber, Layer, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { type PaymentEvent, startDevPaymentProvider } from "../../src/payments/DevPaymentProvider.js"
import * as PaymentProvider from "../../src/payments/PaymentProvider.js"

const standIn = (options: { readonly lateMillis?: number; readonly onEvent?: (event: PaymentEvent) => void } = {}) =>
  Effect.acquireRelease(
    Effect.promise(() => startDevPaymentProvider({ port: 0, ...options })),
    (provider) => Effect.promise(() => provider.close())
  )

/** The HTTP client, for the rest of the test's scope. */
const clientOf = (url: string, timeout: Duration.Duration) =>
  Layer.build(PaymentProvider.layerHttp({ url, timeout }).pipe(Layer.provide(NodeHttpClient.layerUndici))).pipe(
    Effect.map(Context.get(PaymentProvider.PaymentProvider))
  )

const newPaymentId = () => `payment-${randomUUID()}`

const eventually = (condition: () => boolean) =>
  Effect.suspend(() => (condition() ? Effect.void : Effect.fail("not yet"))).pipe(
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }),
    Effect.orDie
  )

/** A request as any HTTP client would send it, for what the typed client never sends. */
const rawCall = (url: string, init: { readonly method?: string; readonly key?: string; readonly body?: string } = {}) =>
  Effect.promise(() =>
    fetch(url, {
      method: init.method ?? "POST",
      headers: { "content-type": "application/json", ...(init.key === undefined ? {} : { "idempotency-key": init.key }) },
      ...(init.body === undefined ? {} : { body: init.body })
    }).then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }))
  )

it.scopedLive("approved, captured, refunded: the ledger shows one capture and one refund", () =>
  Effect.gen(function*() {
    const provider = yield* standIn()
    const client = yield* clientOf(provider.url, Duration.seconds(5))
    const paymentId = newPaymentId()
    const authorization = yield* client.authorize({ paymentId, amountCents: 4200, currency: "EUR", method: "card" })
    if (authorization._tag !== "Approved") return expect.fail(`declined: ${authorization.reason}`)
    const { captureId } = yield* client.capture({ paymentId, authorizationId: authorization.authorizationId, amountCents: 4200 })
    const { refundId } = yield* client.refund({ paymentId, amountCents: 4200 })
    expect(captureId).not.toEqual(refundId)
    expect(provider.payment(paymentId)).toEqual({
      paymentId,
      status: "refunded",
      amountCents: 4200,
      captures: 1,
      refunds: 1,
      capturedCents: 4200,
      refundedCents: 4200,
      calls: { authorize: 1, capture: 1, void: 0, refund: 1 }
    })
    // The same ledger over HTTP.
    const read = yield* rawCall(`${provider.url}/payments/${encodeURIComponent(paymentId)}`, { method: "GET" })
    expect(read).toEqual({ status: 200, body: provider.payment(paymentId) })
  }))

it.scopedLive("test-decline is declined with its reason, and nothing can be captured", () =>
  Effect.gen(function*() {
    const provider = yield* standIn()
    const client = yield* clientOf(provider.url, Duration.seconds(5))
    const paymentId = newPaymentId()
    const authorization = yield* client.authorize({ paymentId, amountCents: 1000, currency: "EUR", method: "test-decline" })
    expect(authorization).toEqual(PaymentProvider.Authorization.Declined({ reason: "card declined" }))
    const refused = yield* Effect.flip(client.capture({ paymentId, authorizationId: "auth_guess", amountCents: 1000 }))
    expect(refused._tag).toBe("ProviderRefused")
    expect(provider.payment(paymentId)).toMatchObject({ status: "declined", captures: 0, capturedCents: 0 })
  }))

it.scopedLive("test-timeout: ProviderTimeout within the configured timeout, then a void leaves the payment voided", () =>
  Effect.gen(function*() {
    const provider = yield* standIn()
    const timeout = Duration.millis(400)
    const client = yield* clientOf(provider.url, timeout)
    const paymentId = newPaymentId()
    const started = yield* Clock.currentTimeMillis
    const error = yield* Effect.flip(client.authorize({ paymentId, amountCents: 2500, currency: "EUR", method: "test-timeout" }))
    const elapsed = (yield* Clock.currentTimeMillis) - started
    expect(error).toEqual(new PaymentProvider.ProviderTimeout({ operation: "authorize", after: timeout }))
    expect(elapsed).toBeGreaterThanOrEqual(400)
    expect(elapsed).toBeLessThan(400 + 1500)
    expect(provider.payment(paymentId)?.status).toBe("authorizing")
    yield* client.void(paymentId)
    expect(provider.payment(paymentId)).toMatchObject({ status: "voided", captures: 0, calls: { authorize: 1, void: 1 } })
    const refused = yield* Effect.flip(client.capture({ paymentId, authorizationId: "auth_guess", amountCents: 2500 }))
    expect(refused._tag).toBe("ProviderRefused")
  }))

it.scopedLive("test-late: the client gives up first, voids, and the late authorization ends voided: never captured", () =>
  Effect.gen(function*() {
    let lateAnswered: (event: PaymentEvent) => void = () => undefined
    const lateAnswer = new Promise<PaymentEvent>((resolve) => (lateAnswered = resolve))
    const provider = yield* standIn({
      lateMillis: 700,
      onEvent: (event) => {
        if (event.operation === "authorize" && !event.repeat && event.httpStatus !== undefined) lateAnswered(event)
      }
    })
    const client = yield* clientOf(provider.url, Duration.millis(200))
    const paymentId = newPaymentId()
    const request = { paymentId, amountCents: 3100, currency: "EUR", method: "test-late" }
    const error = yield* Effect.flip(client.authorize(request))
    expect(error._tag).toBe("ProviderTimeout")
    yield* client.void(paymentId)
    expect(provider.payment(paymentId)?.status).toBe("voided")
    const answered = yield* Effect.promise(() => lateAnswer)
    expect(answered.outcome).toMatch(/^declined: /)
    expect(provider.payment(paymentId)?.status).toBe("voided")
    // The late answer is what a repeat of the key hears: no authorization to capture with.
    const repeated = yield* client.authorize(request)
    expect(repeated._tag).toBe("Declined")
    const refused = yield* Effect.flip(client.capture({ paymentId, authorizationId: "auth_guess", amountCents: 3100 }))
    expect(refused).toMatchObject({ _tag: "ProviderRefused", operation: "capture", reason: "voided" })
    expect(provider.payment(paymentId)).toMatchObject({ status: "voided", captures: 0, capturedCents: 0 })
  }))

it.scopedLive("a repeated Idempotency-Key, also while the first is in progress, gets the first answer: money is taken once", () =>
  Effect.gen(function*() {
    const provider = yield* standIn({ lateMillis: 300 })
    const client = yield* clientOf(provider.url, Duration.seconds(5))
    const paymentId = newPaymentId()
    const request = { paymentId, amountCents: 990, currency: "EUR", method: "test-late" }
    const [first, second] = yield* Effect.all([client.authorize(request), client.authorize(request)], { concurrency: 2 })
    const third = yield* client.authorize(request)
    if (first._tag !== "Approved") return expect.fail(`declined: ${first.reason}`)
    expect(second).toEqual(first)
    expect(third).toEqual(first)
    const capture = { paymentId, authorizationId: first.authorizationId, amountCents: 990 }
    const captured = yield* client.capture(capture)
    const again = yield* client.capture(capture)
    expect(again).toEqual(captured)
    expect(provider.payment(paymentId)).toMatchObject({
      status: "captured",
      captures: 1,
      capturedCents: 990,
      calls: { authorize: 3, capture: 2, void: 0, refund: 0 }
    })
    // A capture under another key is a second capture, and that is refused: never twice.
    const refused = yield* rawCall(`${provider.url}/captures`, { key: `${paymentId}:capture-again`, body: JSON.stringify(capture) })
    expect(refused).toEqual({ status: 409, body: { status: "refused", reason: "captured already" } })
    expect(provider.payment(paymentId)).toMatchObject({ captures: 1, capturedCents: 990 })
  }))

it.scopedLive("captures refused: an unknown payment, a declined one, another amount, another authorization; refunds and voids too", () =>
  Effect.gen(function*() {
    const provider = yield* standIn()
    const client = yield* clientOf(provider.url, Duration.seconds(5))
    const unknown = yield* Effect.flip(client.capture({ paymentId: newPaymentId(), authorizationId: "auth_x", amountCents: 100 }))
    expect(unknown).toMatchObject({ _tag: "ProviderRefused", operation: "capture", reason: expect.stringMatching(/^unknown payment /) })

    const declinedId = newPaymentId()
    yield* client.authorize({ paymentId: declinedId, amountCents: 100, currency: "EUR", method: "test-decline" })
    const declined = yield* Effect.flip(client.capture({ paymentId: declinedId, authorizationId: "auth_x", amountCents: 100 }))
    expect(declined._tag).toBe("ProviderRefused")

    const paymentId = newPaymentId()
    const approved = yield* client.authorize({ paymentId, amountCents: 500, currency: "EUR", method: "card" })
    if (approved._tag !== "Approved") return expect.fail(`declined: ${approved.reason}`)
    const notCaptured = yield* Effect.flip(client.refund({ paymentId, amountCents: 500 }))
    expect(notCaptured).toMatchObject({ _tag: "ProviderRefused", reason: "not captured (approved)" })
    // Each refusal is the kept answer of its key: these go through other payments' keys.
    const otherAmount = newPaymentId()
    const other = yield* client.authorize({ paymentId: otherAmount, amountCents: 500, currency: "EUR", method: "card" })
    if (other._tag !== "Approved") return expect.fail(`declined: ${other.reason}`)
    const differs = yield* Effect.flip(client.capture({ paymentId: otherAmount, authorizationId: other.authorizationId, amountCents: 499 }))
    expect(differs).toMatchObject({ _tag: "ProviderRefused", reason: expect.stringMatching(/^amount differs/) })
    const wrongAuthorization = yield* Effect.flip(client.capture({ paymentId, authorizationId: other.authorizationId, amountCents: 500 }))
    expect(wrongAuthorization).toMatchObject({ _tag: "ProviderRefused", reason: expect.stringMatching(/^not authorized/) })
    expect(provider.payment(paymentId)).toMatchObject({ status: "approved", captures: 0, capturedCents: 0 })

    const capturedId = newPaymentId()
    const third = yield* client.authorize({ paymentId: capturedId, amountCents: 700, currency: "EUR", method: "card" })
    if (third._tag !== "Approved") return expect.fail(`declined: ${third.reason}`)
    yield* client.capture({ paymentId: capturedId, authorizationId: third.authorizationId, amountCents: 700 })
    const voidCaptured = yield* Effect.flip(client.void(capturedId))
    expect(voidCaptured).toMatchObject({ _tag: "ProviderRefused", operation: "void" })
    const refundMore = yield* Effect.flip(client.refund({ paymentId: capturedId, amountCents: 701 }))
    expect(refundMore).toMatchObject({ _tag: "ProviderRefused", reason: expect.stringMatching(/^amount differs/) })
    expect(provider.payment(capturedId)).toMatchObject({ status: "captured", refunds: 0, refundedCents: 0 })
  }))

it.scopedLive("a void that arrives before its authorization: the authorization is declined, nothing is held", () =>
  Effect.gen(function*() {
    const provider = yield* standIn()
    const client = yield* clientOf(provider.url, Duration.seconds(5))
    const paymentId = newPaymentId()
    yield* client.void(paymentId)
    const authorization = yield* client.authorize({ paymentId, amountCents: 800, currency: "EUR", method: "card" })
    expect(authorization).toEqual(PaymentProvider.Authorization.Declined({ reason: "payment voided" }))
    expect(provider.payment(paymentId)).toMatchObject({ status: "voided", calls: { authorize: 1, void: 1 } })
  }))

it.scopedLive("a bad body is a 400 naming the field; other paths are 404; neither touches the ledger", () =>
  Effect.gen(function*() {
    const provider = yield* standIn()
    const call = (path: string, init: Parameters<typeof rawCall>[1] = {}) => rawCall(`${provider.url}${path}`, init)
    const paymentId = newPaymentId()
    const stringAmount = yield* call("/captures", {
      key: `${paymentId}:capture`,
      body: JSON.stringify({ paymentId, authorizationId: "auth_x", amountCents: "12" })
    })
    expect(stringAmount.status).toBe(400)
    expect(stringAmount.body).toMatchObject({ field: "amountCents" })
    const noCurrency = yield* call("/authorizations", {
      key: `${paymentId}:authorize`,
      body: JSON.stringify({ paymentId, amountCents: 100, method: "card" })
    })
    expect(noCurrency).toMatchObject({ status: 400, body: { field: "currency" } })
    const fraction = yield* call("/refunds", { key: `${paymentId}:refund`, body: JSON.stringify({ paymentId, amountCents: 1.5 }) })
    expect(fraction).toMatchObject({ status: 400, body: { field: "amountCents" } })
    const notJson = yield* call("/voids", { key: `${paymentId}:void`, body: "{" })
    expect(notJson).toMatchObject({ status: 400, body: { field: "body" } })
    const noKey = yield* call("/voids", { body: JSON.stringify({ paymentId }) })
    expect(noKey).toMatchObject({ status: 400, body: { field: "Idempotency-Key" } })
    expect(yield* call("/health", { method: "GET" })).toMatchObject({ status: 200 })
    expect(yield* call("/payments/nobody", { method: "GET" })).toMatchObject({ status: 404 })
    expect(yield* call("/elsewhere", { method: "GET" })).toMatchObject({ status: 404 })
    expect(yield* call("/authorizations", { method: "GET" })).toMatchObject({ status: 404 })
    expect(provider.payments()).toEqual([])
  }))

it.scopedLive("close() ends the open test-timeout requests: the client hears ProviderUnavailable at once, not a timeout", () =>
  Effect.gen(function*() {
    const provider = yield* standIn()
    const client = yield* clientOf(provider.url, Duration.seconds(20))
    const paymentId = newPaymentId()
    const request = { paymentId, amountCents: 100, currency: "EUR", method: "test-timeout" }
    // The repeat waits for the first one's answer, which never comes.
    const fibers = yield* Effect.forEach([request, request], (r) => Effect.fork(Effect.flip(client.authorize(r))))
    yield* eventually(() => provider.openRequests() === 2)
    expect(provider.payment(paymentId)?.calls.authorize).toBe(2)
    const started = yield* Clock.currentTimeMillis
    yield* Effect.promise(() => provider.close())
    const errors = yield* Fiber.joinAll(fibers)
    expect((yield* Clock.currentTimeMillis) - started).toBeLessThan(5000)
    expect(errors.map((error) => error._tag)).toEqual(["ProviderUnavailable", "ProviderUnavailable"])
    expect(provider.openRequests()).toBe(0)
    const gone = yield* Effect.flip(client.void(paymentId))
    expect(gone._tag).toBe("ProviderUnavailable")
  }))
