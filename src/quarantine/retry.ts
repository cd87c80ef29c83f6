/**
 * Putting a parked entry back once its cause is fixed (the CLI's `quarantine retry`, the console's
 * retry): an outbox row goes back in line (a new outbox row, relayed after everything else); an
 * undecodable message is read again and applied by today's definition of the projection that parked
 * it (its source names it: `projector:<name>`). The entry is then marked retried.
 */
import { Data, Effect, Schema } from "effect"
import type { Notification } from "../domain/aggregate.js"
import { EventEnvelope } from "../messaging/contracts.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import { projections } from "../projections.js"
import * as QuarantineStore from "./QuarantineStore.js"

/** The entry still cannot be processed; `message` says why. */
export class RetryRefused extends Data.TaggedError("RetryRefused")<{ readonly message: string }> {}

const decodeEnvelope = Schema.decodeUnknown(Schema.parseJson(EventEnvelope))

export const retryParked = (entry: QuarantineStore.Parked) =>
  Effect.gen(function*() {
    if (entry.source === "outbox:events" || entry.source === "outbox:notifications") {
      if (entry.globalPosition === null) return yield* new RetryRefused({ message: `entry ${entry.id} names no event position` })
      const destination = entry.source === "outbox:events" ? "events" : "notifications"
      const notification = entry.received === null ? null : JSON.parse(entry.received) as Notification
      const outbox = yield* OutboxStore.OutboxStore
      yield* outbox.requeue(destination, entry.globalPosition, notification)
    } else {
      const projection = projections.find((candidate) => QuarantineStore.projectorSource(candidate.name) === entry.source)
      if (projection === undefined) {
        return yield* new RetryRefused({
          message: `entry ${entry.id}: its source ${entry.source} names no registered projection ` +
            `(registered: ${projections.map((candidate) => candidate.name).join(", ")})`
        })
      }
      const event = yield* decodeEnvelope(entry.received ?? "").pipe(
        Effect.mapError((error) => new RetryRefused({ message: `entry ${entry.id} still cannot be read: ${error.message.slice(0, 300)}` }))
      )
      yield* projection.apply([event])
    }
    const store = yield* QuarantineStore.QuarantineStore
    yield* store.markRetried(entry.id)
  })
