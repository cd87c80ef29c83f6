/** Traces are exported only when an OTLP endpoint is set, and not when the standard switches say no. */
import { ConfigProvider, Effect, Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { configProblems } from "../../../src/config.js"
import { exporting, otlpProtocol } from "../../../src/observability/tracing.js"
import { parentSpan, traceHeaders } from "../../../src/observability/traceContext.js"

const exportsWith = (env: Record<string, string>) =>
  Effect.runSync(exporting.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))

describe("tracing", () => {
  it("exports nothing without an endpoint, or when switched off", () => {
    expect(exportsWith({})).toBe(false)
    expect(exportsWith({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toBe(true)
    expect(exportsWith({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:4318/v1/traces" })).toBe(true)
    expect(exportsWith({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_SDK_DISABLED: "true" })).toBe(false)
    expect(exportsWith({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318", OTEL_TRACES_EXPORTER: "none" })).toBe(false)
    // Empty is unset, as the specification says (compose passes variables the shell does not set as empty).
    expect(exportsWith({ OTEL_EXPORTER_OTLP_ENDPOINT: "" })).toBe(false)
    expect(exportsWith({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: " ", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" })).toBe(true)
  })

  it("takes the OTLP protocol from the traces' variable, else the general one; a bad one is named", () => {
    const protocolWith = (env: Record<string, string>) =>
      Effect.runSync(Effect.either(otlpProtocol.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))))))
    expect(protocolWith({})).toEqual(Either.right("http/protobuf"))
    expect(protocolWith({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })).toEqual(Either.right("http/json"))
    expect(protocolWith({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/protobuf" }))
      .toEqual(Either.right("http/protobuf"))
    const bad = protocolWith({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })
    expect(Either.isLeft(bad) && configProblems(bad.left)).toEqual([
      "OTEL_EXPORTER_OTLP_PROTOCOL: must be http/protobuf or http/json (grpc is not supported here), got \"grpc\""
    ])
  })

  it("takes up a well-formed traceparent and nothing else", () => {
    const valid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    expect(Option.map(parentSpan(valid, "vendor=1"), (span) => [span.traceId, span.spanId])).toEqual(
      Option.some(["0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"])
    )
    for (const broken of [undefined, "", "garbage", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"]) {
      expect(Option.isNone(parentSpan(broken)), String(broken)).toBe(true)
    }
    expect(traceHeaders({ traceparent: valid })).toEqual({ traceparent: valid })
    expect(traceHeaders({})).toEqual({})
  })
})
