/**
 * The web console in a real browser (headless Chromium): signing in with a pasted token and out, a
 * development token minted on the page, what a customer may and may not see, an order's timeline
 * with its diffs, who did each thing and the ids, the state at an earlier version chosen by
 * keyboard, the notifications and fulfilment saga of an order that went through it, the admin
 * pages with a retry and a requeue through the page, CSRF, and an expired session. Accessible
 * queries throughout (getByRole, getByLabel), so the pages are proven labelled too. Each main page
 * is kept as a screenshot in test-artifacts/console/.
 */
import { expect, layer } from "@effect/vitest"
import { SqlClient } from "@effect/sql"
import amqp from "amqplib"
import { Duration, Effect } from "effect"
import { randomUUID } from "node:crypto"
import { topology } from "../../src/messaging/contracts.js"
import { token } from "../support/auth.js"
import { devAuthSettings, screenshot, sharedBrowser, signIn } from "../support/console.js"
import { confirmedOrder, fulfilmentLayer, orderOf, stocked, untilFulfilment } from "../support/fulfilment.js"
import { BaseUrl, placeOrderBody, post, serverLayer } from "../support/http.js"

// Read by the application's settings when the layers below are built.
process.env["CONSOLE_TRACE_URL"] = "http://127.0.0.1:16686/trace/{traceId}"
const messagingPrefix = `console-${randomUUID().slice(0, 8)}.`
process.env["MESSAGING_PREFIX"] = messagingPrefix

const { asUser } = sharedBrowser()

const staffToken = await token(`staff-${randomUUID()}`, { roles: ["staff"], expiresIn: 3600 })
const adminToken = await token(`admin-${randomUUID()}`, { roles: ["admin"], expiresIn: 3600 })
const customerToken = (customerId: string) => token(customerId, { roles: ["customer"], expiresIn: 3600 })

layer(fulfilmentLayer({ paymentTimeout: "2 seconds" }), { excludeTestServices: true, timeout: Duration.minutes(2) })("the web console", (it) => {
  it.effect("signs in with a pasted token, shows who is signed in, and signs out", () =>
    asUser(async (page) => {
      const signInPage = await page.goto("/console")
      await page.waitForURL(/\/console\/sign-in/)
      expect(signInPage?.headers()["content-security-policy"]).toContain("default-src 'self'")
      // The keys of an identity provider: no development tokens offered.
      expect(await page.getByRole("heading", { name: "Development: mint a token" }).count()).toBe(0)
      // No CONSOLE_OIDC_CLIENT_ID: signing in with the provider is not offered.
      expect(await page.getByRole("button", { name: /^Sign in with/ }).count()).toBe(0)
      await screenshot(page, "sign-in")
      const response = await page.request.get("/console/assets/console.css")
      expect(response.headers()["content-type"]).toContain("text/css")

      await page.getByRole("textbox", { name: "Bearer token" }).fill("not-a-token")
      await page.getByRole("button", { name: "Sign in", exact: true }).click()
      await page.getByText(/the token was refused/).waitFor()

      await signIn(page, staffToken)
      const banner = page.getByRole("banner")
      expect(await banner.textContent()).toMatch(/Signed in as\s+staff-.*\s+staff/)
      const cookie = (await page.context().cookies()).find((candidate) => candidate.name === "console_session")!
      expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/console" })
      expect(cookie.expires - Date.now() / 1000).toBeGreaterThan(3500)

      await page.getByRole("button", { name: "Sign out" }).click()
      await page.waitForURL(/\/console\/sign-in\?reason=signed-out/)
      await page.getByRole("status").getByText("You are signed out.").waitFor()
      await page.goto("/console")
      await page.waitForURL(/\/console\/sign-in/)
    }))

  it.effect("a customer sees their own order; another's is not found, as in the API", () =>
    Effect.gen(function*() {
      const me = randomUUID()
      const mine = (yield* post("/orders", { body: placeOrderBody({ customerId: me }) })).json.orderId as string
      const theirs = (yield* post("/orders", { body: placeOrderBody({ customerId: randomUUID() }) })).json.orderId as string
      const myToken = yield* Effect.promise(() => customerToken(me))
      yield* asUser(async (page) => {
        await signIn(page, myToken)
        await page.getByLabel("Order id").fill(mine)
        await page.getByRole("button", { name: "Open order" }).click()
        await page.getByRole("heading", { level: 1, name: `Order ${mine}` }).waitFor()

        const refused = await page.goto(`/console/orders/${theirs}`)
        expect(refused?.status()).toBe(404)
        await page.getByRole("heading", { name: "Order not found" }).waitFor()
        await screenshot(page, "order-not-found")
        // The very answer an order that does not exist gets.
        const missing = await page.goto(`/console/orders/${randomUUID()}`)
        expect(missing?.status()).toBe(404)

        const admin = await page.goto("/console/admin")
        expect(admin?.status()).toBe(403)
        await page.getByRole("heading", { name: "Not allowed" }).waitFor()
        await screenshot(page, "admin-refused")
        expect(await page.getByRole("link", { name: "Pipeline" }).count()).toBe(0)
      })
    }))

  it.effect("an order's timeline: each event with what it changed, who did it and its ids; the state at an earlier version by keyboard", () =>
    Effect.gen(function*() {
      const customerId = randomUUID()
      const asCustomer = yield* Effect.promise(() => customerToken(customerId))
      const orderId = (yield* post("/orders", { token: asCustomer, body: placeOrderBody({ customerId }) })).json.orderId as string
      expect((yield* post(`/orders/${orderId}/items`, { token: asCustomer, body: { sku: "B", quantity: 2, unitPriceCents: 250 } })).status).toBe(200)
      expect((yield* post(`/orders/${orderId}/cancel`, { token: staffToken, body: { reason: "asked by phone" } })).status).toBe(200)

      yield* asUser(async (page) => {
        await signIn(page, staffToken)
        await page.goto(`/console/orders/${orderId}`)
        const timeline = page.getByRole("table", { name: /Events 1–3 of 3/ })
        const rows = timeline.getByRole("row")
        expect(await rows.count()).toBe(4)
        const placed = rows.nth(1)
        expect(await placed.textContent()).toContain("OrderPlaced")
        expect(await placed.textContent()).toContain(customerId)
        expect(await placed.textContent()).toContain("customer")
        const cancelled = rows.nth(3)
        const cancelledText = (await cancelled.textContent())!
        expect(cancelledText).toContain("OrderCancelled")
        expect(cancelledText).toMatch(/staff-[0-9a-f-]+\s*staff/)
        // What it changed: the status from cancelled's predecessor, and the reason set.
        expect(cancelledText).toMatch(/status\s*from\s*"placed"\s*→?\s*to\s*"cancelled"/)
        expect(cancelledText).toMatch(/cancelReason\s*from\s*null\s*→?\s*to\s*"asked by phone"/)
        expect(await rows.nth(2).textContent()).toMatch(/lines\[1\]\s*set to\s*\{"sku":"B"/)
        // Its ids: correlation and causation, the command, and a link to its trace.
        expect(cancelledText).toMatch(/correlation\s*[0-9a-f-]{36}/)
        expect(cancelledText).toMatch(/causation/)
        const traceLink = cancelled.getByRole("link", { name: /open the trace/ })
        expect(await traceLink.getAttribute("href")).toMatch(/^http:\/\/127\.0\.0\.1:16686\/trace\/[0-9a-f]{32}$/)
        await screenshot(page, "order-timeline")

        // The slider, by keyboard: Home goes to version 1, the state swapped in by htmx.
        const slider = page.getByRole("slider", { name: "Version" })
        expect(await slider.getAttribute("aria-valuetext")).toBe("version 3 of 3")
        await slider.focus()
        await page.keyboard.press("Home")
        await page.locator("#version-output").getByText("version 1 of 3").waitFor()
        const state = page.getByLabel(`State of order ${orderId} after version 1`)
        await state.waitFor()
        expect(await state.textContent()).toContain("\"status\": \"placed\"")
        await page.keyboard.press("ArrowRight")
        await page.getByLabel(`State of order ${orderId} after version 2`).waitFor()
        expect(await page.getByLabel(`State of order ${orderId} after version 2`).textContent()).toContain("\"sku\": \"B\"")
        await screenshot(page, "order-state-at-version")

        // Without JavaScript the version links do the same.
        await page.getByRole("link", { name: "State after version 1" }).click()
        await page.getByLabel(`State of order ${orderId} after version 1`).waitFor()
      })
    }))

  it.effect("an order that went through fulfilment: its notifications and its saga", () =>
    Effect.gen(function*() {
      const sku = yield* stocked(5)
      const orderId = yield* confirmedOrder({ [sku]: 2 })
      yield* untilFulfilment(orderId, (saga) => saga.phase === "awaitingPayment")
      const order = yield* orderOf(orderId)
      expect((yield* post(`/orders/${orderId}/pay`, { body: { amountCents: order.totalCents, method: "card" } })).status).toBe(202)
      yield* untilFulfilment(orderId, (saga) => saga.phase === "paid")
      // A worker delivered the confirmation after a retry (no worker runs here: its record, as it writes it).
      const sql = yield* SqlClient.SqlClient
      yield* sql`
        INSERT INTO notification_deliveries (event_id, stream_id, customer_id, notification, status, attempts, recorded_at, sent_at, last_error)
        SELECT event_id, stream_id, ${order.customerId}, 'confirmed', 'sent', 2, recorded_at, now(), NULL
        FROM events WHERE stream_id = ${orderId} AND event_type = 'OrderConfirmed'`

      yield* asUser(async (page) => {
        await signIn(page, staffToken)
        await page.goto(`/console/orders/${orderId}`)
        const notifications = page.getByRole("table", { name: "Push notifications to the customer" })
        const confirmed = notifications.getByRole("row").filter({ hasText: "OrderConfirmed" })
        expect(await confirmed.textContent()).toMatch(/confirmed.*sent\s*2/s)
        expect(await notifications.getByRole("row").filter({ hasText: "OrderPaid" }).textContent()).toMatch(/waiting|relayed/)

        const fulfilment = page.getByRole("region", { name: "Fulfilment" })
        expect(await fulfilment.getByRole("definition").first().textContent()).toContain("paid")
        const steps = fulfilment.getByRole("table", { name: /Steps/ })
        for (const step of ["read-order", `reserve:${sku}`, "authorize:1", "capture:1", "order-paid:1"]) {
          expect(await steps.getByRole("row").filter({ hasText: step }).textContent()).toContain("succeeded")
        }
        await screenshot(page, "order-fulfilment")
      })
    }))

  it.effect("admin pages: the pipeline, a quarantined row retried and a dead letter requeued through the page", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const orderId = (yield* post("/orders", { body: placeOrderBody() })).json.orderId as string
      const [row] = yield* sql<{ id: number }>`
        INSERT INTO quarantine (source, global_position, reason)
        SELECT 'outbox:events', global_position, 'the broker refused it: message too large'
        FROM events WHERE stream_id = ${orderId} AND version = 1
        RETURNING id`
      const parkedId = row!.id
      // A dead letter, as a worker leaves one in this run's queue.
      const names = topology(messagingPrefix)
      const deadEventId = randomUUID()
      yield* Effect.promise(async () => {
        const connection = await amqp.connect("amqp://guest:guest@127.0.0.1:5672")
        const channel = await connection.createConfirmChannel()
        await channel.assertQueue(names.deadLetterQueue, { durable: true })
        await channel.assertQueue(names.pushQueue, { durable: true })
        channel.sendToQueue(names.deadLetterQueue, Buffer.from(JSON.stringify({ eventId: deadEventId })), {
          messageId: deadEventId,
          persistent: true,
          headers: { "x-dead-letter-reason": "push gateway refused it: 400 bad token", "x-attempts": 5, "x-original-routing-key": "order.confirmed" }
        })
        await channel.waitForConfirms()
        await connection.close()
      })

      yield* asUser(async (page) => {
        await signIn(page, adminToken)
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Pipeline" }).click()
        const status = page.getByRole("table", { name: "The pipeline at a glance" })
        expect(await status.getByRole("row", { name: /Outbox backlog/ }).textContent()).toMatch(/events: \d+ waiting/)
        expect(await status.getByRole("row", { name: /Quarantined rows/ }).textContent()).toMatch(/[1-9]\d* waiting/)
        await screenshot(page, "admin-pipeline")

        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Quarantine" }).click()
        await page.getByRole("table", { name: /Parked entries/ }).waitFor()
        await screenshot(page, "admin-quarantine")
        await page.getByRole("button", { name: `Retry entry ${parkedId}` }).click()
        await page.getByRole("status").getByText(`Entry ${parkedId} (outbox:events) was put back in line.`).waitFor()
        expect(await page.getByRole("button", { name: `Retry entry ${parkedId}` }).count()).toBe(0)

        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dead letters" }).click()
        const letter = page.getByRole("row").filter({ hasText: deadEventId })
        expect(await letter.textContent()).toContain("push gateway refused it")
        await screenshot(page, "admin-dead-letters")
        await page.getByRole("button", { name: `Requeue task ${deadEventId}` }).click()
        await page.getByRole("status").getByText(/Re-queued 1 task/).waitFor()
        expect(await page.getByRole("row").filter({ hasText: deadEventId }).count()).toBe(0)
      })
      const requeued = yield* Effect.promise(async () => {
        const connection = await amqp.connect("amqp://guest:guest@127.0.0.1:5672")
        const channel = await connection.createChannel()
        const message = await channel.get(names.pushQueue, { noAck: true })
        await connection.close()
        return message === false ? undefined : message.properties.messageId
      })
      expect(requeued).toBe(deadEventId)
    }))

  it.effect("the live view follows the event feed: an order placed while it is open appears, filtered by stream type", () =>
    Effect.gen(function*() {
      const base = yield* BaseUrl
      yield* asUser(async (page) => {
        await signIn(page, staffToken)
        await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Live events" }).click()
        await page.getByLabel(/Stream types/).fill("order")
        await page.getByRole("button", { name: "Follow" }).click()
        await page.getByText(/^Following/).waitFor()
        const orderId = await fetch(`${base}/orders`, {
          method: "POST",
          headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
          body: JSON.stringify(placeOrderBody())
        }).then((response) => response.json() as Promise<{ orderId: string }>).then((body) => body.orderId)
        const list = page.getByRole("list", { name: "Events as they commit" })
        const item = list.getByRole("listitem").filter({ hasText: orderId })
        await item.waitFor({ timeout: 15_000 })
        expect(await item.textContent()).toContain("OrderPlaced")
        // Its id links to the order's page.
        expect(await item.getByRole("link").getAttribute("href")).toBe(`/console/orders/${orderId}`)
        await screenshot(page, "live-events")
      })
      // A customer may not follow the whole log.
      const customerId = randomUUID()
      const asCustomer = yield* Effect.promise(() => customerToken(customerId))
      yield* asUser(async (page) => {
        await signIn(page, asCustomer)
        expect(await page.getByRole("link", { name: "Live events" }).count()).toBe(0)
        const refused = await page.goto("/console/live")
        expect(refused?.status()).toBe(403)
      })
    }))

  it.effect("a POST without the CSRF token, or from another site, is refused and says what to do", () =>
    asUser(async (page) => {
      await signIn(page, adminToken)
      const withoutToken = await page.request.post("/console/admin/quarantine/retry", { form: { id: "1" } })
      expect(withoutToken.status()).toBe(403)
      expect(await withoutToken.text()).toContain("the form carried no CSRF token")
      const crossSite = await page.request.post("/console/sign-out", { form: { csrf: "x" }, headers: { origin: "https://evil.example" } })
      expect(crossSite.status()).toBe(403)
      await page.setContent(await withoutToken.text())
      await screenshot(page, "csrf-refused")
      // Still signed in: the refused sign-out did nothing.
      await page.goto("/console")
      await page.getByRole("button", { name: "Sign out" }).waitFor()
    }))

  it.effect("an expired token sends you back to sign in, saying so", () =>
    Effect.gen(function*() {
      const base = yield* BaseUrl
      const expired = yield* Effect.promise(() => token(`staff-${randomUUID()}`, { roles: ["staff"], expiresIn: -120 }))
      yield* asUser(async (page) => {
        await page.context().addCookies([{ name: "console_session", value: expired, domain: new URL(base).hostname, path: "/console" }])
        await page.goto("/console")
        await page.waitForURL(/\/console\/sign-in\?reason=expired/)
        await page.getByRole("status").getByText("Your session has expired: sign in again.").waitFor()
        expect((await page.context().cookies()).some((cookie) => cookie.name === "console_session")).toBe(false)
      })
    }))
})

const devAuth = devAuthSettings()

layer(serverLayer({ auth: devAuth }), { excludeTestServices: true })("the web console in development mode", (it) => {
  it.effect("offers to mint a token for a role, and signs in with it", () =>
    asUser(async (page) => {
      await page.goto("/console/sign-in")
      await page.getByRole("heading", { name: "Development: mint a token" }).waitFor()
      await page.getByRole("radio", { name: "admin" }).check()
      await page.getByRole("button", { name: "Mint a token and sign in" }).click()
      await page.getByRole("button", { name: "Sign out" }).waitFor()
      expect(await page.getByRole("banner").textContent()).toMatch(/Signed in as\s+admin-[0-9a-f-]+\s+admin/)
      await page.getByRole("link", { name: "Pipeline" }).waitFor()
      await screenshot(page, "home-admin")

      await page.getByRole("button", { name: "Sign out" }).click()
      const customerId = randomUUID()
      await page.getByRole("radio", { name: "customer" }).check()
      await page.getByLabel("Customer id (for a customer token)").fill(customerId)
      await page.getByRole("button", { name: "Mint a token and sign in" }).click()
      expect(await page.getByRole("banner").textContent()).toContain(customerId)
      await page.getByRole("heading", { name: "Your orders" }).waitFor()
      await screenshot(page, "home-customer")
    }))
})

/** Small limits: a principal's burst of 5, an address's of 20; neither refills within the test. */
const consoleLimits = { principal: { perSecond: 0.05, burst: 5 }, anonymous: { perSecond: 0.05, burst: 20 } }

layer(serverLayer({ rateLimits: consoleLimits }), { excludeTestServices: true })("the web console's rate limits", (it) => {
  it.effect("a signed-in session is limited per principal (a 429 page that says when to retry); static files never are", () =>
    Effect.gen(function*() {
      const [alice, bob] = yield* Effect.promise(() =>
        Promise.all([token(`staff-${randomUUID()}`, { roles: ["staff"], expiresIn: 3600 }), token(`staff-${randomUUID()}`, { roles: ["staff"], expiresIn: 3600 })])
      )
      const assets = ["/console/assets/console.css", "/console/assets/htmx.min.js", "/console/assets/console.js"]
      // Without a session: more static files than the address's whole burst, all served.
      yield* asUser(async (page) => {
        for (let i = 0; i < 30; i++) expect((await page.request.get(assets[i % 3]!)).status()).toBe(200)
      })
      yield* asUser(async (page) => {
        // Signing in takes two of the address's tokens; the home page it lands on, the first of alice's five.
        await signIn(page, alice)
        const statuses: Array<number> = []
        for (let i = 0; i < 5; i++) statuses.push((await page.request.get("/console")).status())
        expect(statuses).toEqual([200, 200, 200, 200, 429])
        const refused = await page.goto("/console")
        expect(refused?.status()).toBe(429)
        expect(refused?.headers()["content-type"]).toContain("text/html")
        const retryAfter = Number(refused?.headers()["retry-after"])
        expect(retryAfter).toBeGreaterThan(1)
        await page.getByRole("heading", { name: "Too many requests" }).waitFor()
        await page.getByText(`Wait ${retryAfter} seconds, then reload the page.`).waitFor()
        await screenshot(page, "rate-limited")
        // The static files still come, with the session.
        for (let i = 0; i < 30; i++) expect((await page.request.get(assets[i % 3]!)).status()).toBe(200)
      })
      // Another principal from the same address has a bucket of its own; alice's pages took nothing from the address's.
      yield* asUser(async (page) => {
        await signIn(page, bob)
        expect(await page.getByRole("banner").textContent()).toMatch(/Signed in as\s+staff-/)
      })
      // Without a session, the console counts against the address: the sign-in page, as often as its burst allows.
      yield* asUser(async (page) => {
        const statuses: Array<number> = []
        for (let i = 0; i < 20; i++) statuses.push((await page.request.get("/console/sign-in")).status())
        expect(statuses.at(-1)).toBe(429)
        const refused = await page.request.get("/console/sign-in")
        expect(refused.status()).toBe(429)
        expect(await refused.text()).toContain("This address has made more requests")
      })
    }))
})
