/**
 * Traces leave the process through OpenTelemetry's OTLP exporter when, and only when, an endpoint is
 * configured by the standard variables: OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT),
 * OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf, the default, or http/json), OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER (and _ARG), OTEL_BSP_*; OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none switch it off. Without an endpoint nothing is installed: Effect's own
 * tracer still makes spans with ids (they travel with events and show in the logs), and nothing is
 * exported. The exporters do not read the protocol variable themselves, so the package is chosen
 * here.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Config, Effect, Layer, Option } from "effect"
import { kind, setting } from "../config.js"

/** A standard variable, if set: OpenTelemetry treats an empty value as unset (compose files pass them so). */
const standard = (name: string) => Config.string(name).pipe(Config.option, Config.map(Option.filter((value) => value.trim() !== "")))

/** The signal's own variable, else the general one. */
const tracesOrGeneral = (suffix: string) =>
  Config.all([standard(`OTEL_EXPORTER_OTLP_TRACES_${suffix}`), standard(`OTEL_EXPORTER_OTLP_${suffix}`)]).pipe(
    Config.map(([traces, general]) => Option.orElse(traces, () => general))
  )

const endpoint = tracesOrGeneral("ENDPOINT")
const protocols = ["http/protobuf", "http/json"] as const
const protocolKind = kind(
  "must be http/protobuf or http/json (grpc is not supported here)",
  (text) => Option.fromNullable(protocols.find((protocol) => protocol === text.trim())),
  true
)
/** Declared as every setting is (config.ts), so that a bad value names its variable. */
export const otlpProtocol = Config.all([
  Config.option(setting("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocolKind)),
  Config.option(setting("OTEL_EXPORTER_OTLP_PROTOCOL", protocolKind))
]).pipe(Config.map(([traces, general]) => Option.getOrElse(Option.orElse(traces, () => general), () => "http/protobuf" as const)))
const disabled = Config.boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false))
const tracesExporter = Config.string("OTEL_TRACES_EXPORTER").pipe(Config.withDefault("otlp"))
const serviceName = standard("OTEL_SERVICE_NAME")

/** Whether this process exports its traces. */
export const exporting = Effect.gen(function*() {
  return Option.isSome(yield* endpoint) && !(yield* disabled) && (yield* tracesExporter) !== "none"
})

/**
 * The tracer of a process in `role` (serve, relay, project, worker): its service name is
 * OTEL_SERVICE_NAME, else `event-sourced-actors-<role>`. Spans are batched (OTEL_BSP_* tune it) and
 * flushed when the process stops.
 */
export const layer = (role: string) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    if (!(yield* exporting)) return Layer.empty
    const json = (yield* otlpProtocol) === "http/json"
    const exporter = yield* Effect.promise(async () =>
      json
        ? new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter()
        : new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter()
    )
    const name = Option.getOrElse(yield* serviceName, () => `event-sourced-actors-${role}`)
    yield* Effect.logInfo(`traces are exported over OTLP (${json ? "http/json" : "http/protobuf"}) as ${name}`)
    return NodeSdk.layer(() => ({ resource: { serviceName: name }, spanProcessor: new BatchSpanProcessor(exporter) }))
  }))
