/** Small builders for event-store tests. */
import { randomUUID } from "node:crypto"
import type { NewEvent } from "../../src/eventstore/EventStore.js"

export const newEvent = (type = "Noted", data: unknown = { n: 1 }): NewEvent => ({
  eventId: randomUUID(),
  type,
  schemaVersion: 1,
  data,
  metadata: { correlationId: randomUUID(), causationId: null, userId: "tester" }
})

export const newEvents = (n: number, type = "Noted") => Array.from({ length: n }, (_, i) => newEvent(type, { n: i + 1 }))

export const streamId = (prefix = "test") => `${prefix}-${randomUUID()}`
