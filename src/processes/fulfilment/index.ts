/** The fulfilment process: its versions (every one that may still have sagas running), from the settings. */
import { Duration } from "effect"
import type { AppConfigShape } from "../../config.js"
import { fulfilmentV1, type FulfilmentSettings } from "./definition.js"

export const fulfilmentSettings = (config: AppConfigShape): FulfilmentSettings => ({
  reservationTtlMs: Duration.toMillis(config.sagas.reservationTtl),
  paymentTimeoutMs: Duration.toMillis(config.payments.timeout),
  stepTimeoutMs: Duration.toMillis(config.sagas.stepTimeout),
  retry: {
    maxAttempts: config.sagas.maxAttempts,
    baseDelayMs: Duration.toMillis(config.sagas.retryBaseDelay),
    maxDelayMs: Duration.toMillis(config.sagas.retryMaxDelay)
  }
})

/** A new version goes at the end; an old one stays until `sagas list` shows none of it running. */
export const fulfilmentDefinitions = (config: AppConfigShape) => [fulfilmentV1(fulfilmentSettings(config))]

export type { FulfilmentPhase, FulfilmentState } from "./definition.js"
export { RESERVATION_TIMER } from "./definition.js"
