/**
 * What an admin may do from the console, as the CLI's `quarantine retry` does it: a parked outbox
 * row goes back in line (a new outbox row, relayed after everything else); a parked message is read
 * again and applied by today's definition of the projection that parked it.
 */
import { Effect, Schema } from "effect"
import type { Notification } from "../domain/aggregate.js"
import { EventEnvelope } from "../messaging/contracts.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import { projections } from "../projections.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"

const decodeEnvelope = Schema.decodeUnknown(Schema.parseJson(EventEnvelope))

/** Puts one parked entry back; fails, saying why, when it still cannot be processed. */
export const retryParked = (entry: QuarantineStore.Parked) =>
  Effect.gen(function*() {
    if (entry.source === "outbox:events" || entry.source === "outbox:notifications") {
      if (entry.globalPosition === null) return yield* Effect.fail(new Error(`entry ${entry.id} names no event position`))
      const destination = entry.source === "outbox:events" ? "events" : "notifications"
      const notification = entry.received === null ? null : JSON.parse(entry.received) as Notification
      const outbox = yield* OutboxStore.OutboxStore
      yield* outbox.requeue(destination, entry.globalPosition, notification)
    } else {
      const projection = projections.find((candidate) => QuarantineStore.projectorSource(candidate.name) === entry.source)
      if (projection === undefined) {
        return yield* Effect.fail(
          new Error(
            `entry ${entry.id}: its source ${entry.source} names no registered projection ` +
              `(registered: ${projections.map((candidate) => candidate.name).join(", ")})`
          )
        )
      }
      const event = yield* decodeEnvelope(entry.received ?? "").pipe(
        Effect.mapError((error) => new Error(`entry ${entry.id} still cannot be read: ${error.message.slice(0, 300)}`))
      )
      yield* projection.apply([event])
    }
    const store = yield* QuarantineStore.QuarantineStore
    yield* store.markRetried(entry.id)
  })
