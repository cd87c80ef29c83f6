/**
 * GET /events/stream end to end: the live feed in commit order, filtered, resumed with
 * Last-Event-ID without a gap or a repeat, refused to customers, and a bad position refused before
 * the stream starts.
 */
import { expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { adminToken, bearer, token } from "../support/auth.js"
import { BaseUrl, expectError, get, placeOrder, post } from "../support/http.js"
import { serverLayer } from "../support/http.js"

interface Frame {
  readonly id: string | undefined
  readonly event: string | undefined
  readonly data: any
}

/** Reads SSE frames from the feed until `enough` says stop, then closes the connection. */
const readFeed = (query: string, enough: (frames: ReadonlyArray<Frame>) => boolean, headers: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const base = yield* BaseUrl
    return yield* Effect.promise(async () => {
      const controller = new AbortController()
      const response = await fetch(`${base}/events/stream${query}`, { headers: { ...bearer(adminToken), ...headers }, signal: controller.signal })
      expect(response.status).toBe(200)
      expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/)
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
      const frames: Array<Frame> = []
      let buffer = ""
      const deadline = Date.now() + 20_000
      while (!enough(frames) && Date.now() < deadline) {
        const { done, value } = await reader.read()
        if (done) break
        buffer += value
        let end: number
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const lines = buffer.slice(0, end).split("\n")
          buffer = buffer.slice(end + 2)
          const field = (name: string) => lines.find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2)
          const data = field("data")
          if (data !== undefined) frames.push({ id: field("id"), event: field("event"), data: JSON.parse(data) })
        }
      }
      controller.abort()
      return frames
    })
  })

layer(serverLayer(), { excludeTestServices: true })("the live event feed", (it) => {
  it.effect("sends every event after a position, in commit order, filtered by type and stream type; Last-Event-ID resumes", () =>
    Effect.gen(function*() {
      // An event committed before the order's: the feed starts after it.
      const marker = yield* placeOrder()
      const before = (yield* get(`/orders/${marker}/events`)).json[0].globalPosition as number
      const orderId = yield* placeOrder()
      yield* post(`/orders/${orderId}/items`, { body: { sku: "B", quantity: 1, unitPriceCents: 5 } })
      yield* post(`/orders/${orderId}/confirm`)

      const ours = (frames: ReadonlyArray<Frame>) => frames.filter((frame) => frame.data.streamId === orderId)
      const all = yield* readFeed(`?after=${before}&streamType=order`, (frames) => ours(frames).length >= 3)
      expect(ours(all).map((frame) => [frame.event, frame.data.version])).toEqual([["OrderPlaced", 1], ["ItemAdded", 2], ["OrderConfirmed", 3]])
      expect(all.every((frame) => frame.data.streamType === "order" && frame.id === String(frame.data.globalPosition))).toBe(true)
      // Commit order: positions only grow.
      const positions = all.map((frame) => frame.data.globalPosition as number)
      expect(positions).toEqual([...positions].sort((a, b) => a - b))

      // Resuming after the first event gives the rest, nothing twice.
      const first = ours(all)[0]!
      const resumed = yield* readFeed(`?streamType=order`, (frames) => ours(frames).length >= 2, { "last-event-id": first.id! })
      expect(ours(resumed).map((frame) => frame.event)).toEqual(["ItemAdded", "OrderConfirmed"])

      const typed = yield* readFeed(`?after=${before}&type=OrderConfirmed`, (frames) => ours(frames).length >= 1)
      expect(typed.every((frame) => frame.event === "OrderConfirmed")).toBe(true)
    }))

  it.effect("refuses customers, and a position that is not an event's before the stream starts", () =>
    Effect.gen(function*() {
      const customer = yield* Effect.promise(() => token(randomUUID(), { roles: ["customer"] }))
      expectError(yield* get("/events/stream", { token: customer }), 403)
      const orderId = yield* placeOrder()
      const position = (yield* get(`/orders/${orderId}/events`)).json[0].globalPosition as number
      expectError(yield* get(`/events/stream?after=${position + 1_000_000_000}`), 400, { field: "after" })
      expectError(yield* get("/events/stream", { headers: { "last-event-id": "abc" } }), 400, { field: "last-event-id" })
    }))
})
