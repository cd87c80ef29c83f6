/**
 * W3C trace context (`traceparent`, `tracestate`) as it travels with an event: taken from the span a
 * command runs in, stored in the event's metadata, put into Kafka and RabbitMQ message headers by
 * the relay, and taken up again by the projector and the worker as the parent of their spans.
 */
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import type * as OtelApi from "@opentelemetry/api"
import { Clock, Effect, Option, type Tracer } from "effect"

export interface TraceContext {
  readonly traceparent: string
  readonly tracestate?: string | undefined
}

/** How @effect/opentelemetry marks its spans (a global symbol): they hold the OpenTelemetry span, with its trace state. */
const OtelSpanTypeId = Symbol.for("@effect/opentelemetry/Tracer/OtelSpan")

/**
 * The current span's context, with its sampling flag, and its trace state when OpenTelemetry is
 * installed; none outside any span. Read from the span itself: no wrapper is made per command.
 */
export const currentTraceContext: Effect.Effect<Option.Option<TraceContext>> = Effect.map(
  Effect.option(Effect.currentSpan),
  Option.map((span): TraceContext => {
    const traceparent = `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
    const tracestate = OtelSpanTypeId in span ? (span as unknown as { span: OtelApi.Span }).span.spanContext().traceState?.serialize() : undefined
    return tracestate ? { traceparent, tracestate } : { traceparent }
  })
)

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** The span a `traceparent` names, as a parent for spans of this process; none when it is absent or malformed. */
export const parentSpan = (traceparent: string | undefined, tracestate?: string): Option.Option<Tracer.ExternalSpan> => {
  const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim().toLowerCase())
  if (match === null || match[1] === "ff" || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return Option.none()
  return Option.some(OtelTracer.makeExternalSpan({
    traceId: match[2]!,
    spanId: match[3]!,
    traceFlags: parseInt(match[4]!, 16),
    ...(tracestate === undefined ? {} : { traceState: tracestate })
  }))
}

/** Runs `effect` as a child of the span a trace context names (when it names one). */
export const withParentFrom = (context: { readonly traceparent?: string | undefined; readonly tracestate?: string | undefined }) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Option.match(parentSpan(context.traceparent, context.tracestate), {
    onNone: () => effect,
    onSome: (parent) => Effect.withParentSpan(effect, parent)
  })

/** Message headers that carry a trace context (Kafka and RabbitMQ alike). */
export const traceHeaders = (context: { readonly traceparent?: string | undefined; readonly tracestate?: string | undefined }): Record<string, string> => ({
  ...(context.traceparent === undefined ? {} : { traceparent: context.traceparent }),
  ...(context.tracestate === undefined ? {} : { tracestate: context.tracestate })
})

/**
 * Work on a batch (commands appended together, a broker publish, a read-model write) as a step of
 * each trace in it: one span per distinct trace context, a child of that context, covering the whole
 * batch's work and ending with its outcome; the work's own spans nest under the first. Items without
 * a context add none. With no exporter the spans cost a few microseconds each and go nowhere.
 */
export const spannedPerTrace = (
  name: string,
  contexts: Iterable<{ readonly traceparent?: string | undefined; readonly tracestate?: string | undefined }>,
  options: { readonly kind: Tracer.SpanKind; readonly attributes?: Record<string, unknown> }
) =>
<A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const parents = new Map<string, Tracer.ExternalSpan>()
    for (const context of contexts) {
      if (context.traceparent === undefined || parents.has(context.traceparent)) continue
      Option.map(parentSpan(context.traceparent, context.tracestate), (parent) => parents.set(context.traceparent!, parent))
    }
    if (parents.size === 0) return yield* work
    const spans = yield* Effect.forEach(parents.values(), (parent) =>
      Effect.makeSpan(name, { parent, kind: options.kind, attributes: options.attributes ?? {}, captureStackTrace: false }))
    // The work's own spans nest under the first trace's.
    const exit = yield* Effect.exit(Effect.withParentSpan(work, spans[0]!))
    const ended = yield* Clock.currentTimeNanos
    for (const span of spans) span.end(ended, exit)
    return yield* exit
  })
