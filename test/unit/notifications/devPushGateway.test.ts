/**
 * The push stand-in's health route, which a container's health check asks: 200 `{"status":"ok"}`,
 * and no push recorded for it.
 */
import { describe, expect, it } from "@effect/vitest"
import { startDevPushGateway } from "../../../src/notifications/DevPushGateway.js"

describe("DevPushGateway", () => {
  it("answers GET /health with 200 {status: ok} and records no push; pushes go on as before", async () => {
    const gateway = await startDevPushGateway({ port: 0 })
    try {
      const health = await fetch(new URL("/health", gateway.url))
      expect(health.status).toBe(200)
      expect(health.headers.get("content-type")).toBe("application/json")
      expect(await health.json()).toEqual({ status: "ok" })

      const push = await fetch(gateway.url, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "key-1" },
        body: JSON.stringify({ to: "someone", title: "t", body: "b" })
      })
      expect(push.status).toBe(200)
      expect(gateway.requests.map((request) => request.idempotencyKey)).toEqual(["key-1"])
      expect(gateway.delivered).toHaveLength(1)

      // Only GET is the health check: a POST there is taken as a push (and refused without a JSON body).
      expect((await fetch(new URL("/health", gateway.url), { method: "POST" })).status).toBe(400)
    } finally {
      await gateway.close()
    }
  })
})
