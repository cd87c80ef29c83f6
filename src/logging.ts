/** Structured logs: logfmt lines (or JSON with LOG_FORMAT=json) at LOG_LEVEL. */
import { Config, Effect, Layer, Logger } from "effect"
import { AppConfig } from "./config.js"

const format = Config.literal("logfmt", "json", "pretty")("LOG_FORMAT").pipe(Config.withDefault("logfmt"))

export const LoggingLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* AppConfig
    const chosen = yield* format
    const logger = chosen === "json" ? Logger.jsonLogger : chosen === "pretty" ? Logger.prettyLoggerDefault : Logger.logfmtLogger
    return Layer.merge(Logger.replace(Logger.defaultLogger, logger), Logger.minimumLogLevel(config.logLevel))
  })
)
