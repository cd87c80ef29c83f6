/**
 * `quarantine list` and `quarantine retry`: what could never be processed, and putting it back once
 * its cause is fixed. An outbox row goes back in line (a new outbox row, relayed after everything
 * else); an undecodable message is read again and applied by today's definition of the projection
 * that parked it (its source names it: `projector:<name>`).
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Layer, Schema } from "effect"
import { StoreLive } from "../app.js"
import type { Notification } from "../domain/aggregate.js"
import { EventEnvelope } from "../messaging/contracts.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import { projections, ProjectionsLive } from "../projections.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"
import { json, jsonOutput, printJson } from "./output.js"

const decodeEnvelope = Schema.decodeUnknown(Schema.parseJson(EventEnvelope))

const QuarantineLive = Layer.mergeAll(QuarantineStore.layer, OutboxStore.layer, ProjectionsLive).pipe(Layer.provideMerge(StoreLive))

const list = Command.make("list", {
  all: Options.boolean("all").pipe(Options.withDescription("Include entries already retried")),
  json
}, ({ all, json }) =>
  Effect.gen(function*() {
    const parked = yield* Effect.flatMap(QuarantineStore.QuarantineStore, (store) => store.list({ all }))
    if (json) return yield* printJson(parked)
    if (parked.length === 0) return yield* Console.log("the quarantine is empty")
    yield* Effect.forEach(parked, (entry) =>
      Console.log(
        `${entry.id}\t${entry.source}\t${entry.globalPosition ?? "-"}\t${entry.quarantinedAt.toISOString()}\t` +
          `${entry.retriedAt === null ? "waiting" : `retried ${entry.retriedAt.toISOString()}`}\t${entry.reason}`
      ), { discard: true })
  }).pipe(Effect.provide(QuarantineLive), jsonOutput(json))).pipe(Command.withDescription("List what is parked: id, source, event position, when, state, why"))

/** Puts one entry back; fails, saying why, when it still cannot be processed. */
const retryOne = (entry: QuarantineStore.Parked) =>
  Effect.gen(function*() {
    if (entry.source === "outbox:events" || entry.source === "outbox:notifications") {
      const destination = entry.source === "outbox:events" ? "events" : "notifications"
      const notification = entry.received === null ? null : JSON.parse(entry.received) as Notification
      yield* Effect.flatMap(OutboxStore.OutboxStore, (outbox) => outbox.requeue(destination, entry.globalPosition!, notification))
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
    yield* Effect.flatMap(QuarantineStore.QuarantineStore, (store) => store.markRetried(entry.id))
    yield* Console.log(`${entry.id}: put back`)
  })

const retry = Command.make("retry", {
  ids: Args.integer({ name: "id" }).pipe(Args.repeated),
  all: Options.boolean("all").pipe(Options.withDescription("Every waiting entry"))
}, ({ all, ids }) =>
  Effect.gen(function*() {
    const waiting = yield* Effect.flatMap(QuarantineStore.QuarantineStore, (store) => store.list())
    const chosen = all ? waiting : waiting.filter((entry) => ids.includes(entry.id))
    if (chosen.length === 0) return yield* Console.error("nothing to retry: give waiting ids (see `quarantine list`) or --all")
    yield* Effect.forEach(chosen, (entry) => retryOne(entry).pipe(Effect.catchAll((error) => Console.error(String(error)))), {
      discard: true
    })
  }).pipe(Effect.provide(QuarantineLive))).pipe(
  Command.withDescription("Put parked entries back: outbox rows in line again, messages through the projector")
)

export const quarantine = Command.make("quarantine").pipe(
  Command.withSubcommands([list, retry]),
  Command.withDescription("What could never be processed, parked so that its stream moved on")
)
