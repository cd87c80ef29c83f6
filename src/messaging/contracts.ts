/**
 * The integration messages: the one mapping from stored events to what other systems receive, and
 * the contract they can rely on. It is versioned and kept apart from the domain event types, so the
 * domain can change without breaking a consumer: a change that would break one is a new version.
 *
 *   Kafka     topic `<prefix><stream type>.events`, key = stream id, value = EventEnvelope (JSON),
 *             headers event-type, event-id, correlation-id, schema-version, envelope-version.
 *   RabbitMQ  topic exchange `<prefix>notifications`, routing key `<stream type>.<notification>`,
 *             persistent, messageId = event id, correlationId, body = NotificationTask (JSON).
 */
import type amqp from "amqplib"
import { Schema } from "effect"
import type { Notification } from "../domain/aggregate.js"
import type { EventMetadata, RecordedEvent } from "../eventstore/EventStore.js"
import { traceHeaders } from "../observability/traceContext.js"

export const ENVELOPE_VERSION = 1
export const TASK_VERSION = 1

/** Names of the topics, exchanges and queues, each under the deployment's prefix. */
export const topology = (prefix: string) => ({
  eventsTopic: (streamType: string) => `${prefix}${streamType}.events`,
  /** The relay's position in the outbox, committed in each Kafka transaction with the events it covers. */
  relayPositionTopic: `${prefix}outbox.relay-position`,
  /** The relay's transactional id: a new active relay fences the previous one's producer by it. */
  relayTransactionalId: `${prefix}outbox-relay`,
  notificationsExchange: `${prefix}notifications`,
  pushQueue: `${prefix}push-notifications`,
  /** Tasks given up: the reason and the attempt count are in their headers. */
  deadLetterQueue: `${prefix}push-notifications.dlq`,
  /**
   * Where a task waits `delayMs` before it goes back to the push queue (a quorum queue that
   * dead-letters at least once; the `.retry.<ms>ms` classic queues of earlier versions drain by
   * themselves and may be deleted once empty).
   */
  delayQueue: (delayMs: number) => `${prefix}push-notifications.delay.${delayMs}ms`,
  /** Binding of a stream type's notifications to the push queue. */
  notificationPattern: (streamType: string) => `${streamType}.*`
})
export type Topology = ReturnType<typeof topology>

const Metadata = Schema.Struct({
  correlationId: Schema.String,
  causationId: Schema.NullOr(Schema.String),
  userId: Schema.NullOr(Schema.String),
  role: Schema.optional(Schema.String),
  traceparent: Schema.optional(Schema.String),
  tracestate: Schema.optional(Schema.String)
})

/** The value of every Kafka message: the event as stored, in a stable shape. */
export const EventEnvelope = Schema.Struct({
  eventId: Schema.String,
  streamId: Schema.String,
  streamType: Schema.String,
  version: Schema.Int,
  type: Schema.String,
  schemaVersion: Schema.Int,
  data: Schema.Unknown,
  metadata: Metadata,
  recordedAt: Schema.String,
  globalPosition: Schema.Int
})
export type EventEnvelope = typeof EventEnvelope.Type

/** A push notification to deliver: who, what happened, and the details to render. */
export const NotificationTask = Schema.Struct({
  taskVersion: Schema.Literal(TASK_VERSION),
  eventId: Schema.String,
  streamType: Schema.String,
  streamId: Schema.String,
  version: Schema.Int,
  notification: Schema.String,
  customerId: Schema.String,
  details: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number) }),
  recordedAt: Schema.String,
  correlationId: Schema.String
})
export type NotificationTask = typeof NotificationTask.Type

export interface KafkaRecord {
  readonly topic: string
  readonly key: string
  readonly value: string
  readonly headers: Readonly<Record<string, string>>
}

export interface AmqpRecord {
  readonly exchange: string
  readonly routingKey: string
  readonly content: Buffer
  readonly messageId: string
  readonly correlationId: string
  readonly type: string
  readonly timestamp: number
  readonly headers: Readonly<Record<string, string | number>>
}

const correlationOf = (metadata: EventMetadata) => metadata.correlationId

export const toEnvelope = (event: RecordedEvent): EventEnvelope => ({
  eventId: event.eventId,
  streamId: event.streamId,
  streamType: event.streamType,
  version: event.version,
  type: event.type,
  schemaVersion: event.schemaVersion,
  data: event.data,
  metadata: event.metadata,
  recordedAt: event.recordedAt.toISOString(),
  globalPosition: event.globalPosition
})

export const toKafkaRecord = (names: Topology, event: RecordedEvent): KafkaRecord => ({
  topic: names.eventsTopic(event.streamType),
  key: event.streamId,
  value: JSON.stringify(toEnvelope(event)),
  headers: {
    "event-type": event.type,
    "event-id": event.eventId,
    "correlation-id": correlationOf(event.metadata),
    "schema-version": String(event.schemaVersion),
    "envelope-version": String(ENVELOPE_VERSION),
    ...traceHeaders(event.metadata)
  }
})

export const toNotificationTask = (event: RecordedEvent, notification: Notification): NotificationTask => ({
  taskVersion: TASK_VERSION,
  eventId: event.eventId,
  streamType: event.streamType,
  streamId: event.streamId,
  version: event.version,
  notification: notification.name,
  customerId: notification.customerId,
  details: notification.details,
  recordedAt: event.recordedAt.toISOString(),
  correlationId: correlationOf(event.metadata)
})

export const toAmqpRecord = (names: Topology, event: RecordedEvent, notification: Notification): AmqpRecord => {
  const task = toNotificationTask(event, notification)
  return {
    exchange: names.notificationsExchange,
    routingKey: `${event.streamType}.${notification.name}`,
    content: Buffer.from(JSON.stringify(task)),
    messageId: event.eventId,
    correlationId: task.correlationId,
    type: `${event.streamType}.${notification.name}`,
    timestamp: Math.floor(event.recordedAt.getTime() / 1000),
    headers: { "task-version": TASK_VERSION, "schema-version": event.schemaVersion, ...traceHeaders(event.metadata) }
  }
}

/** The message properties of a task: persistent JSON, identified by its event id. */
export const publishOptions = (record: AmqpRecord): amqp.Options.Publish => ({
  persistent: true,
  contentType: "application/json",
  messageId: record.messageId,
  correlationId: record.correlationId,
  type: record.type,
  timestamp: record.timestamp,
  headers: record.headers
})
