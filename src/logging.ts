/**
 * Structured logs: logfmt lines (or JSON with LOG_FORMAT=json) at LOG_LEVEL. A line written inside a
 * span carries its `traceId` and `spanId`, the same ids the exported spans have.
 */
import { Config, Context, Effect, FiberRef, FiberRefs, HashMap, Layer, Logger, Option, Tracer } from "effect"
import { AppConfig } from "./config.js"

const format = Config.literal("logfmt", "json", "pretty")("LOG_FORMAT").pipe(Config.withDefault("logfmt"))

const withTraceIds = <Message, Output>(logger: Logger.Logger<Message, Output>) =>
  Logger.mapInputOptions(logger, (options: Logger.Logger.Options<Message>) => {
    const span = Context.getOption(FiberRefs.getOrDefault(options.context, FiberRef.currentContext), Tracer.ParentSpan)
    if (Option.isNone(span)) return options
    return {
      ...options,
      annotations: options.annotations.pipe(
        HashMap.set("traceId", span.value.traceId as unknown),
        HashMap.set("spanId", span.value.spanId as unknown)
      )
    }
  })

const logger = (format: "logfmt" | "json" | "pretty") =>
  format === "pretty"
    ? withTraceIds(Logger.prettyLogger())
    : withTraceIds(format === "json" ? Logger.jsonLogger : Logger.logfmtLogger).pipe(Logger.withConsoleLog)

export const LoggingLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* AppConfig
    return Layer.merge(Logger.replace(Logger.defaultLogger, logger(yield* format)), Logger.minimumLogLevel(config.logLevel))
  })
)
