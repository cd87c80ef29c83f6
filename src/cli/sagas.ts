/**
 * `sagas list | show | retry | compensate`: the operator's view of the fulfilment sagas and the
 * manual recovery path. A retry or compensation is a command to the saga (recorded in its stream,
 * with who asked); the process manager of a running `serve` carries it out.
 */
import { Args, Command, Options } from "@effect/cli"
import { Clock, Console, Effect, Layer } from "effect"
import { userInfo } from "node:os"
import { FulfilmentSagas } from "../aggregates.js"
import { RuntimeLive } from "../app.js"
import { makeSagaCommands } from "../processes/ProcessManager.js"
import * as ProcessStore from "../processes/ProcessStore.js"
import type { SagaState } from "../processes/saga.js"
import { json, jsonOutput, printJson } from "./output.js"

const PROCESS = "fulfilment"

const SagasCliLive = ProcessStore.layer.pipe(Layer.provideMerge(RuntimeLive))

const sagaId = Args.text({ name: "order-id" }).pipe(Args.withDescription("The saga's id: its order's"))
const by = Options.text("by").pipe(
  Options.withDefault(userInfo().username),
  Options.withDescription("Who asks (recorded in the saga's stream)")
)

const iso = (date: Date | null) => (date === null ? "-" : date.toISOString())

const list = Command.make("list", {
  stuck: Options.boolean("stuck").pipe(Options.withDescription("Only sagas with a step parked, or past its deadline with no one running it")),
  all: Options.boolean("all").pipe(Options.withDescription("Finished ones too")),
  limit: Options.integer("limit").pipe(Options.withDefault(50), Options.withDescription("List at most this many, newest first")),
  json
}, ({ all, json, limit, stuck }) =>
  Effect.gen(function*() {
    const store = yield* ProcessStore.ProcessStore
    const now = new Date(yield* Clock.currentTimeMillis)
    const rows = yield* store.list(PROCESS, { only: stuck ? "stuck" : all ? "all" : "open", now, limit })
    if (json) return yield* printJson(rows)
    if (rows.length === 0) return yield* Console.log(stuck ? "no saga is stuck" : "no saga to show")
    yield* Console.log(["saga", "version", "status", "step", "attempts", "next", "deadline", "started", "last error"].join("\t"))
    yield* Effect.forEach(rows, (row) => {
      const late = row.status === "running" && row.deadlineAt !== null && row.deadlineAt < now
      return Console.log([
        row.sagaId,
        `v${row.definitionVersion}`,
        late ? "stuck" : row.outcome === null ? row.status : `${row.status} (${row.outcome})`,
        row.currentStep ?? "-",
        row.attempts,
        iso(row.nextWakeAt),
        iso(row.deadlineAt),
        iso(row.startedAt),
        row.lastError ?? ""
      ].join("\t"))
    }, { discard: true })
  }).pipe(Effect.provide(SagasCliLive), jsonOutput(json))).pipe(
  Command.withDescription("List the fulfilment sagas: running ones by default, --stuck for those that need an operator")
)

const describeSaga = (id: string, saga: SagaState<any>, version: number) => [
  `saga ${id} (fulfilment v${saga.version}, stream version ${version}): ${saga.status}${saga.outcome === null ? "" : `, ${saga.outcome}`}`,
  `phase ${saga.data.phase}${saga.data.cancelReason === null ? "" : `, winding down: ${saga.data.cancelReason}`}; started ${saga.startedAt}${saga.finishedAt === null ? "" : `, finished ${saga.finishedAt}`}`,
  ...saga.steps.map((step) =>
    `  ${step.compensation ? "↺" : "→"} ${step.step.padEnd(28)} ${step.status.padEnd(9)} attempts ${step.attempts}  ` +
    `${step.scheduledAt} → ${step.finishedAt ?? "-"}${step.lastError === null ? "" : `  last error: ${step.lastError}`}`
  ),
  ...Object.entries(saga.timers).map(([timer, dueAt]) => `  ⏱ ${timer} due ${dueAt}`)
].join("\n")

const show = Command.make("show", { sagaId, json }, ({ json, sagaId }) =>
  Effect.gen(function*() {
    const sagas = yield* FulfilmentSagas
    const { state, version } = yield* sagas.read(sagaId)
    if (state.status === "none") return yield* Effect.fail(new Error(`no fulfilment saga for order ${sagaId}`))
    yield* json ? printJson({ sagaId, streamVersion: version, ...state }) : Console.log(describeSaga(sagaId, state, version))
  }).pipe(Effect.provide(SagasCliLive), jsonOutput(json))).pipe(Command.withDescription("Show one saga: its phase, every step with its times and attempts, its timers"))

const operate = (request: "retry" | "compensate") =>
  Command.make(request, { sagaId, by }, ({ by, sagaId }) =>
    Effect.gen(function*() {
      const sagas = yield* FulfilmentSagas
      const commands = yield* makeSagaCommands(PROCESS, sagas)
      const result = yield* commands[request](sagaId, by).pipe(
        Effect.catchTag("RuleViolated", (refused) => Effect.fail(new Error(`saga ${sagaId}: ${refused.message}`)))
      )
      yield* Console.log(describeSaga(sagaId, result.state, result.version))
      yield* Console.log(
        request === "retry"
          ? "parked steps are scheduled again; a running serve's process manager runs them"
          : "compensation requested; a running serve's process manager undoes what the saga did"
      )
    }).pipe(Effect.provide(SagasCliLive))).pipe(
    Command.withDescription(
      request === "retry"
        ? "Run a saga's parked steps again (after fixing what made them fail)"
        : "Undo what a saga did: refund, release the stock, cancel the order"
    )
  )

export const sagas = Command.make("sagas").pipe(
  Command.withSubcommands([list, show, operate("retry"), operate("compensate")]),
  Command.withDescription("The fulfilment sagas: list, show, and the manual recovery path (retry, compensate)")
)

