/**
 * The projections this application runs. Adding one is a definition under src/projections (see
 * projection.ts) and one line here: the definition in `projections`, and the layer of whatever its
 * effects need beyond the event store and the database (its read model's store) in
 * `ProjectionsLive`. The projector runs each as a consumer group of its own, `projections rebuild`
 * rebuilds it by name, and the quarantine retries its parked messages through it.
 */
import { Layer } from "effect"
import * as OrderSummaries from "./projections/OrderSummaries.js"
import { orderSummariesProjection } from "./projections/orderSummariesProjection.js"

/** Every registered projection; their names must differ. */
export const projections = [orderSummariesProjection] as const

export type RegisteredProjection = (typeof projections)[number]

/** What the projections' effects need beyond the event store and the database. */
export const ProjectionsLive = Layer.mergeAll(OrderSummaries.layer)
