/** Handlers of the inventory endpoints. */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Effect } from "effect"
import { InventoryActors } from "../../aggregates.js"
import { availableOf, InventoryCommand, type InventoryState, reservedOf } from "../../domain/inventory/index.js"
import { Api } from "../Api.js"
import { answerWithEtag, cannotFailWith, sendCommand } from "../commands.js"
import { NotFound, toHttpError } from "../errors.js"

const view = (sku: string, state: InventoryState, version: number) => ({
  sku,
  onHand: state.onHand,
  reserved: reservedOf(state),
  available: availableOf(state),
  version
})

export const InventoryHttpLive = HttpApiBuilder.group(Api, "inventory", (handlers) =>
  Effect.gen(function*() {
    const inventory = yield* InventoryActors
    return handlers
      .handle("setStock", ({ headers, path, payload }) =>
        Effect.map(
          sendCommand(inventory, {
            noun: "SKU",
            route: "setStock",
            id: path.sku,
            headers,
            payload,
            command: (at) => InventoryCommand.SetStock({ onHand: payload.onHand, at })
          }),
          (result) => view(path.sku, result.state, result.version)
        ).pipe(cannotFailWith(NotFound)))
      .handle("getStock", ({ headers, path }) =>
        Effect.gen(function*() {
          const { state, version } = yield* inventory.read(path.sku).pipe(Effect.mapError((error) => toHttpError("SKU", error)))
          if (!state.known) return yield* Effect.fail(new NotFound({ error: "not_found", message: `no stock was ever set for SKU ${path.sku}` }))
          yield* answerWithEtag(version, headers["if-none-match"])
          return view(path.sku, state, version)
        }))
  }))
