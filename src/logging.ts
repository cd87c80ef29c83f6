/** Structured logs: logfmt lines (or JSON with LOG_FORMAT=json) at LOG_LEVEL. */
import { Config, Effect, Layer, Logger } from "effect"
import { AppConfig } from "./config.js"

const format = Config.literal("logfmt", "json", "pretty")("LOG_FORMAT").pipe(Config.withDefault("logfmt"))

export const LoggingLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* AppConfig
    const chosen = yield* format
    const logger = chosen === "json" ? Logger.json : chosen === "pretty" ? Logger.pretty : Logger.logFmt
    return Layer.merge(logger, Logger.minimumLogLevel(config.logLevel))
  })
)
