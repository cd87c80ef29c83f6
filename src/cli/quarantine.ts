/**
 * `quarantine list` and `quarantine retry`: what could never be processed, and putting it back once
 * its cause is fixed (quarantine/retry.ts).
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Layer } from "effect"
import { StoreLive } from "../app.js"
import * as OutboxStore from "../outbox/OutboxStore.js"
import { ProjectionsLive } from "../projections.js"
import * as QuarantineStore from "../quarantine/QuarantineStore.js"
import { retryParked } from "../quarantine/retry.js"
import { json, jsonOutput, printJson } from "./output.js"

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

const retryOne = (entry: QuarantineStore.Parked) =>
  retryParked(entry).pipe(Effect.zipRight(Console.log(`${entry.id}: put back`)))

const retry = Command.make("retry", {
  ids: Args.integer({ name: "id" }).pipe(Args.repeated),
  all: Options.boolean("all").pipe(Options.withDescription("Every waiting entry"))
}, ({ all, ids }) =>
  Effect.gen(function*() {
    const waiting = yield* Effect.flatMap(QuarantineStore.QuarantineStore, (store) => store.list())
    const chosen = all ? waiting : waiting.filter((entry) => ids.includes(entry.id))
    if (chosen.length === 0) return yield* Console.error("nothing to retry: give waiting ids (see `quarantine list`) or --all")
    yield* Effect.forEach(chosen, (entry) => retryOne(entry).pipe(Effect.catchAll((error) => Console.error(error.message))), {
      discard: true
    })
  }).pipe(Effect.provide(QuarantineLive))).pipe(
  Command.withDescription("Put parked entries back: outbox rows in line again, messages through the projector")
)

export const quarantine = Command.make("quarantine").pipe(
  Command.withSubcommands([list, retry]),
  Command.withDescription("What could never be processed, parked so that its stream moved on")
)
