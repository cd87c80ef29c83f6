/** EventStore on PostgreSQL (tables in migrations/0001_events.sql). */
import { SqlClient, type SqlError, type Statement } from "@effect/sql"
import { Chunk, Data, Duration, Effect, Exit, Layer, Metric, MetricBoundaries, Option, Queue, Schedule } from "effect"
import { durationHistogram } from "../observability/histograms.js"
import { purgeForever } from "../database/retention.js"
import {
  APPENDED_CHANNEL,
  type AppendError,
  type AppendOutcome,
  AppendOutcomeUnknown,
  type AppendRequest,
  type AppendResult,
  type EventMetadata,
  EventStore,
  type EventStoreShape,
  type HistoryEvent,
  IdempotencyKeyReused,
  type RecordedEvent,
  type StoredIdempotency,
  StoreUnavailable,
  type StreamRange,
  UnknownPosition,
  VersionConflict
} from "./EventStore.js"

export interface PgEventStoreOptions {
  /**
   * An append statement not answered within this is treated as a lost reply: resolved by its event
   * ids, or reported as of unknown outcome.
   */
  readonly appendTimeout: Duration.Duration
  /** Idempotency keys are kept this long: a retry within it gets the first answer. */
  readonly idempotencyRetention: Duration.Duration
}

export const defaultOptions: PgEventStoreOptions = { appendTimeout: Duration.seconds(5), idempotencyRetention: Duration.hours(24) }

/**
 * Deletes up to `limit` idempotency keys older than `retention`, oldest first; gives the count. A
 * retry after that is decided anew, like a new request.
 */
export const purgeIdempotencyKeys = (retention: Duration.Duration, limit: number) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ purged: number }>`
      WITH expired AS (
        SELECT scope, idempotency_key FROM idempotency_keys
        WHERE created_at < now() - make_interval(secs => ${Duration.toSeconds(retention)})
        ORDER BY created_at
        LIMIT ${limit}
      ), deleted AS (
        DELETE FROM idempotency_keys k USING expired
        WHERE k.scope = expired.scope AND k.idempotency_key = expired.idempotency_key
        RETURNING 1
      )
      SELECT count(*)::int AS purged FROM deleted`.pipe(Effect.map(([row]) => row?.purged ?? 0)))

/** Attempts at learning the outcome of an append whose reply was lost, after the first. */
const RESOLVE_ATTEMPTS = 3
/** Appends of a failed group resolved at the same time. */
const RESOLVE_CONCURRENCY = 16

/** Appends written together at most, and groups written at the same time. */
const MAX_GROUP = 256
const GROUP_WRITERS = 4

const groupAppends = Metric.histogram(
  "eventstore_group_commit_appends",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 9 }),
  "Appends written together by one group commit (one statement, one transaction)"
)
const groupDuration = durationHistogram(
  "eventstore_group_commit_duration_seconds",
  "Time to write one group commit, from taking the group to answering it",
  { fromMillis: 0.5, count: 14 }
)

/** A row of `events` as selected with `eventColumns`. */
export interface EventRow {
  readonly global_position: number
  readonly event_id: string
  readonly stream_id: string
  readonly stream_type: string
  readonly version: number
  readonly event_type: string
  readonly schema_version: number
  readonly payload: unknown
  readonly metadata: EventMetadata
  readonly recorded_at: Date
}

export const toRecordedEvent = (row: EventRow): RecordedEvent => ({
  globalPosition: row.global_position,
  eventId: row.event_id,
  streamId: row.stream_id,
  streamType: row.stream_type,
  version: row.version,
  type: row.event_type,
  schemaVersion: row.schema_version,
  data: row.payload,
  metadata: row.metadata,
  recordedAt: row.recorded_at
})

/** A row of `events` as selected with `historyColumns`: what folding needs. */
interface HistoryRow {
  readonly version: number
  readonly event_type: string
  readonly schema_version: number
  readonly payload: unknown
}

/** A plain loop: a long stream has many rows, and this runs for each on every load. */
const toHistoryEvents = (rows: ReadonlyArray<HistoryRow>): ReadonlyArray<HistoryEvent> => {
  const events = new Array<HistoryEvent>(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!
    events[i] = { version: row.version, type: row.event_type, schemaVersion: row.schema_version, data: row.payload }
  }
  return events
}

const sqlState = (error: SqlError.SqlError): { code?: string; constraint?: string } =>
  typeof error.cause === "object" && error.cause !== null ? error.cause as { code?: string; constraint?: string } : {}

/** An append attempt whose reply was lost: it may have committed. Never leaves this module. */
class LostReply extends Data.TaggedError("LostReply")<{ readonly message: string }> {}

/**
 * What a failed statement says about its transaction. The server refusing it with an SQLSTATE proves
 * a rollback — except the connection classes (08…) and operator intervention (57P…), which can
 * arrive after a local commit (a terminated backend waiting for its synchronous standby, say). No
 * connection at all proves nothing was sent. Anything else — a cut connection, a reply that never
 * came — leaves the outcome open.
 */
const afterFailure = (error: SqlError.SqlError): StoreUnavailable | LostReply => {
  const code = sqlState(error).code
  const detail = `${error.message}: ${String((error.cause as Error | undefined)?.message ?? error.cause)}`
  if (error.message.startsWith("Failed to acquire connection")) return new StoreUnavailable({ message: `event store unreachable: ${detail}` })
  if (typeof code === "string" && !code.startsWith("08") && !code.startsWith("57P")) {
    return new StoreUnavailable({ message: `event store refused the append (${code}): ${detail}` })
  }
  return new LostReply({ message: detail })
}

const failWith = (error: SqlError.SqlError) => Effect.fail(afterFailure(error))

/**
 * After appends commit, one `NOTIFY events_appended` tells listeners (the outbox relay) that there is
 * something new. It is sent after the commit, from a transaction of its own, and coalesced — while
 * one is on its way, any number of appends make one more — because a NOTIFY inside the append's
 * transaction takes a cluster-wide lock at commit, which serializes every appending commit (measured
 * here: command p50 from 5 ms to over 100 ms at 1,000 commands/s). A notification lost to a crash
 * between commit and NOTIFY is covered by the listeners' poll.
 */
const announceAppends = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const appended = yield* Queue.sliding<void>(1)
    yield* Queue.take(appended).pipe(
      Effect.zipRight(sql`SELECT pg_notify(${APPENDED_CHANNEL}, 'appended')`.pipe(Effect.ignore)),
      Effect.forever,
      Effect.forkScoped
    )
    return Queue.offer(appended, undefined)
  })

export const make = (options: PgEventStoreOptions = defaultOptions) => Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const announce = yield* announceAppends(sql)

  yield* Effect.forkScoped(purgeForever((limit) => purgeIdempotencyKeys(options.idempotencyRetention, limit), "expired idempotency keys"))

  const columns = sql`global_position, event_id, stream_id, stream_type, version, event_type, schema_version,
    payload, metadata, recorded_at`
  const historyColumns = sql`version, event_type, schema_version, payload`

  const streamVersion = (streamId: string) =>
    sql<{ version: number }>`SELECT coalesce(max(version), 0)::int AS version FROM events WHERE stream_id = ${streamId}`
      .pipe(Effect.map((rows) => rows[0]?.version ?? 0))

  const findIdempotency: EventStoreShape["findIdempotency"] = (claim) =>
    sql<{ request_hash: string; result: AppendResult }>`
      SELECT request_hash, result FROM idempotency_keys WHERE scope = ${claim.scope} AND idempotency_key = ${claim.key}`.pipe(
      Effect.map((rows) =>
        Option.map(Option.fromNullable(rows[0]), (row): StoredIdempotency => ({
          requestHash: row.request_hash,
          result: row.result
        }))
      )
    )

  /**
   * One statement, so one round trip and one implicit transaction: the version guard, the idempotency
   * claim, the events and their outbox rows succeed or fail together. When the stream moved past
   * `expectedVersion`, or the key was already claimed, nothing is inserted and the caller learns which
   * from the result. A writer racing us to the same version loses on the (stream_id, version) unique
   * constraint. Every event gets an outbox row for the event log; an event with a notification gets
   * one more, carrying it.
   */
  const insertEvents = (request: AppendRequest, result: AppendResult) => {
    const key = request.idempotency?.key ?? null
    // A NewEvent is already the row's JSON: eventId, type, schemaVersion, data, metadata, notification.
    const events = JSON.stringify(request.events)
    return sql<{ current_version: number; appended: number; stored: boolean }>`
      WITH current AS (
        SELECT coalesce(max(version), 0)::int AS version FROM events WHERE stream_id = ${request.streamId}
      ), input AS (
        SELECT e.value, e.ordinal FROM jsonb_array_elements(${events}::jsonb) WITH ORDINALITY AS e(value, ordinal)
      ), claimed AS (
        INSERT INTO idempotency_keys (scope, idempotency_key, stream_id, request_hash, result)
        SELECT ${request.idempotency?.scope ?? ""}, ${key}::text, ${request.streamId}, ${request.idempotency?.requestHash ?? ""},
          ${JSON.stringify(result)}::jsonb
        FROM current
        WHERE ${key}::text IS NOT NULL AND current.version = ${request.expectedVersion}
        ON CONFLICT (scope, idempotency_key) DO NOTHING
        RETURNING 1
      ), appended AS (
        INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, payload, metadata)
        SELECT ${request.streamId}, ${request.streamType}, ${request.expectedVersion}::int + input.ordinal::int,
          (input.value->>'eventId')::uuid, input.value->>'type', (input.value->>'schemaVersion')::int,
          input.value->'data', input.value->'metadata'
        FROM input
        WHERE (SELECT version FROM current) = ${request.expectedVersion}
          AND (${key}::text IS NULL OR EXISTS (SELECT 1 FROM claimed))
        RETURNING global_position, event_id
      ), outboxed AS (
        INSERT INTO outbox (destination, global_position, payload)
        SELECT 'events', appended.global_position, NULL FROM appended
        UNION ALL
        SELECT 'notifications', appended.global_position, input.value->'notification'
        FROM appended JOIN input ON (input.value->>'eventId')::uuid = appended.event_id
        WHERE jsonb_typeof(input.value->'notification') = 'object'
      )
      SELECT (SELECT version FROM current) AS current_version, (SELECT count(*) FROM appended)::int AS appended,
        ${storedAsAppended(request)} AS stored`
  }

  /**
   * Whether this append's first event is stored where this append puts it: an earlier attempt of the
   * very same append committed. The same id at another version is a command applied before (and
   * decided again since), not this attempt.
   */
  const storedAsAppended = (request: AppendRequest) =>
    sql`EXISTS (SELECT 1 FROM events WHERE event_id = ${request.events[0]?.eventId ?? null}::uuid
      AND stream_id = ${request.streamId} AND version = ${request.expectedVersion + 1})`

  const isStoredAsAppended = (request: AppendRequest) =>
    sql<{ stored: boolean }>`SELECT ${storedAsAppended(request)} AS stored`.pipe(Effect.map(([row]) => row?.stored === true))

  /** Whether any event of the request is stored (anywhere): a unique event id violated by the store, not by the request itself. */
  const isAnyStored = (request: AppendRequest) =>
    sql<{ stored: boolean }>`SELECT EXISTS (SELECT 1 FROM events WHERE event_id IN (
      SELECT jsonb_array_elements_text(${JSON.stringify(request.events.map((event) => event.eventId))}::jsonb)::uuid
    )) AS stored`.pipe(Effect.map(([row]) => row?.stored === true))

  const appliedThrough: EventStoreShape["appliedThrough"] = (firstEventId) =>
    sql<{ version: number | null }>`
      SELECT max(e.version)::int AS version FROM events f
      JOIN events e ON e.stream_id = f.stream_id AND e.version >= f.version
        AND e.metadata->>'commandId' = f.metadata->>'commandId'
      WHERE f.event_id = ${firstEventId}::uuid`.pipe(
      Effect.map(([row]) => Option.fromNullable(row?.version)),
      Effect.withSpan("EventStore.appliedThrough", { captureStackTrace: false })
    )

  /**
   * One attempt at appending alone. Its statement also reports whether the first event is already
   * stored: then an earlier attempt, whose reply was lost, committed — the append is done, not in
   * conflict. A writer that commits the same version between our snapshot and our insert makes the
   * insert fail on the unique constraint, and the event id tells again whose it was.
   */
  const appendOnce = (request: AppendRequest): Effect.Effect<AppendOutcome, AppendError | LostReply> => {
    const result: AppendResult = {
      streamId: request.streamId,
      fromVersion: request.expectedVersion + 1,
      toVersion: request.expectedVersion + request.events.length
    }
    const appended = Effect.as(announce, { _tag: "Appended", result } as const)
    const conflict = (actualVersion: number) =>
      new VersionConflict({ streamId: request.streamId, expectedVersion: request.expectedVersion, actualVersion })
    // After a unique violation: our own events stored where we put them means an earlier attempt
    // committed; otherwise another writer took the version, or an event id is stored elsewhere (a
    // command of this append was applied before).
    const afterUniqueViolation = (constraint: string | undefined) =>
      Effect.gen(function*() {
        if (yield* isStoredAsAppended(request)) return yield* appended
        if (constraint === "events_stream_version_key") return yield* Effect.fail(conflict(yield* streamVersion(request.streamId)))
        if (constraint === "events_event_id_key" && (yield* isAnyStored(request))) return { _tag: "AlreadyApplied" } as const
        return yield* new StoreUnavailable({ message: `event store refused the append: ${constraint} violated` })
      })

    return insertEvents(request, result).pipe(
      // The timeout answers at once; cancelling the statement (which may wait on a dead connection) goes on behind.
      Effect.disconnect,
      Effect.timeoutFail({
        duration: options.appendTimeout,
        onTimeout: () => new LostReply({ message: "no reply in time" })
      }),
      Effect.flatMap(([row]): Effect.Effect<AppendOutcome, AppendError | SqlError.SqlError> => {
        if (row !== undefined && (row.appended > 0 || row.stored)) return appended
        const actualVersion = row?.current_version ?? 0
        const claim = request.idempotency
        // A retry is answered by its key whatever version it was decided on; without one, it is a conflict.
        if (claim === undefined) return Effect.fail(conflict(actualVersion))
        return findIdempotency(claim).pipe(
          Effect.flatMap((stored): Effect.Effect<AppendOutcome, VersionConflict | IdempotencyKeyReused> =>
            Option.isNone(stored)
              ? Effect.fail(conflict(actualVersion))
              : stored.value.requestHash === claim.requestHash
              ? Effect.succeed({ _tag: "Replayed", result: stored.value.result })
              : Effect.fail(new IdempotencyKeyReused({ key: claim.key }))
          )
        )
      }),
      Effect.catchIf(
        (error): error is SqlError.SqlError => error._tag === "SqlError" && sqlState(error).code === "23505",
        (error) => afterUniqueViolation(sqlState(error).constraint)
      ),
      Effect.catchTag("SqlError", failWith)
    )
  }

  /**
   * Learns the outcome of an append whose reply was lost by asking again with the same events: the
   * event ids are unique, so another attempt either commits them (the first did not) or finds them
   * (it did). If the first is still committing somewhere, the next waits for it on the unique index
   * and then finds its rows. A failure of these attempts proves nothing about the first, so only an
   * answer ends the search; without one in time, the outcome is reported as unknown.
   */
  const resolveLostReply = (request: AppendRequest, lost: LostReply): Effect.Effect<AppendOutcome, AppendError> =>
    appendOnce(request).pipe(
      Effect.catchTag("StoreUnavailable", (error) => Effect.fail(new LostReply({ message: error.message }))),
      Effect.retry({
        while: (error) => error._tag === "LostReply",
        schedule: Schedule.exponential("100 millis"),
        times: RESOLVE_ATTEMPTS
      }),
      Effect.catchTag("LostReply", (last) =>
        Effect.fail(
          new AppendOutcomeUnknown({
            streamId: request.streamId,
            message: `the append to ${request.streamId} may or may not have committed: its reply was lost ` +
              `(${lost.message}) and asking again by its event ids got no answer (${last.message})`
          })
        )),
      Effect.withSpan("EventStore.resolveLostReply", { attributes: { streamId: request.streamId } })
    )

  /** Appends alone; a lost reply is resolved by the events' ids, never read as a conflict. */
  const appendAlone = (request: AppendRequest): Effect.Effect<AppendOutcome, AppendError> =>
    appendOnce(request).pipe(Effect.catchTag("LostReply", (lost) => resolveLostReply(request, lost)))

  /**
   * Group commit: appends from many actors (without idempotency keys) that arrive while others are
   * being written go out together, in one statement and one transaction, each stream with its own
   * version guard: one stream's conflict does not hold back the others. Each caller is answered only
   * once its own events are durable. If the statement fails as a whole with an error that proves a
   * rollback (a race with another process on the unique key, say), each append is tried again alone;
   * if its reply was lost, each append's outcome is resolved by its event ids (resolveLostReply): one
   * that had committed is found, never decided again.
   */
  const insertGroup = (requests: ReadonlyArray<AppendRequest>) =>
    sql<{ req: number; current_version: number }>`
      WITH input AS (
        SELECT r.ordinality::int AS req, r.value AS request
        FROM jsonb_array_elements(${JSON.stringify(requests)}::jsonb) WITH ORDINALITY AS r(value, ordinality)
      ), checked AS (
        SELECT input.req, input.request,
          (SELECT coalesce(max(version), 0) FROM events WHERE stream_id = input.request->>'streamId')::int AS current_version
        FROM input
      ), ok AS (
        SELECT request FROM checked WHERE current_version = (request->>'expectedVersion')::int
      ), new_events AS (
        SELECT ok.request->>'streamId' AS stream_id, ok.request->>'streamType' AS stream_type,
          (ok.request->>'expectedVersion')::int + e.ordinality::int AS version, e.value AS event
        FROM ok, jsonb_array_elements(ok.request->'events') WITH ORDINALITY AS e(value, ordinality)
      ), appended AS (
        INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, payload, metadata)
        SELECT stream_id, stream_type, version, (event->>'eventId')::uuid, event->>'type', (event->>'schemaVersion')::int,
          event->'data', event->'metadata'
        FROM new_events
        RETURNING global_position, event_id
      ), outboxed AS (
        INSERT INTO outbox (destination, global_position, payload)
        SELECT 'events', appended.global_position, NULL FROM appended
        UNION ALL
        SELECT 'notifications', appended.global_position, new_events.event->'notification'
        FROM appended JOIN new_events ON (new_events.event->>'eventId')::uuid = appended.event_id
        WHERE jsonb_typeof(new_events.event->'notification') = 'object'
      )
      SELECT req, current_version FROM checked ORDER BY req`

  interface Waiting {
    readonly request: AppendRequest
    /** Answers the caller, once: a callback rather than a Deferred, which costs more to make than the rest of an append's bookkeeping. */
    readonly reply: (outcome: Exit.Exit<AppendOutcome, AppendError>) => void
  }
  const answer = (item: Waiting, outcome: Effect.Effect<AppendOutcome, AppendError>) => Effect.map(Effect.exit(outcome), item.reply)
  const waiting = yield* Queue.unbounded<Waiting>()

  const flushGroup = (group: ReadonlyArray<Waiting>): Effect.Effect<void> =>
    Effect.gen(function*() {
      yield* Metric.update(groupAppends, group.length)
      if (group.length === 1) return yield* answer(group[0]!, appendAlone(group[0]!.request))
      const rows = yield* Effect.either(
        insertGroup(group.map((item) => item.request)).pipe(
          Effect.disconnect,
          Effect.timeoutFail({ duration: options.appendTimeout, onTimeout: () => new LostReply({ message: "no reply in time" }) }),
          Effect.catchTag("SqlError", failWith)
        )
      )
      if (rows._tag === "Left") {
        const failure = rows.left
        yield* Effect.forEach(
          group,
          (item) =>
            answer(item, failure._tag === "LostReply" ? resolveLostReply(item.request, failure) : appendAlone(item.request)),
          { concurrency: RESOLVE_CONCURRENCY, discard: true }
        )
        return
      }
      let appendedAny = false
      for (const [i, item] of group.entries()) {
        const { request } = item
        const actual = rows.right[i]?.current_version ?? -1
        if (actual === request.expectedVersion) {
          appendedAny = true
          item.reply(Exit.succeed({
            _tag: "Appended",
            result: {
              streamId: request.streamId,
              fromVersion: request.expectedVersion + 1,
              toVersion: request.expectedVersion + request.events.length
            }
          }))
        } else {
          item.reply(Exit.fail(
            new VersionConflict({ streamId: request.streamId, expectedVersion: request.expectedVersion, actualVersion: actual })
          ))
        }
      }
      if (appendedAny) yield* announce
    }).pipe(
      Metric.trackDurationWith(groupDuration, Duration.toMillis),
      Effect.withSpan("EventStore.groupCommit", { attributes: { appends: group.length }, captureStackTrace: false })
    )

  // A few groups may be written at once; while they are, the next ones gather.
  for (let i = 0; i < GROUP_WRITERS; i++) {
    yield* Queue.takeBetween(waiting, 1, MAX_GROUP).pipe(
      Effect.flatMap((group) => flushGroup(Chunk.toReadonlyArray(group))),
      Effect.forever,
      Effect.forkScoped
    )
  }

  // Appends with an idempotency key, and appends inside a caller's own transaction, go alone.
  const append: EventStoreShape["append"] = (request) =>
    Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
      request.idempotency !== undefined || Option.isSome(transaction)
        ? appendAlone(request)
        : Effect.async<AppendOutcome, AppendError>((reply) => void Queue.unsafeOffer(waiting, { request, reply }))).pipe(
        // From the caller's side: alone or in a group commit, until its events are durable.
        Effect.withSpan("EventStore.append", {
          attributes: { streamId: request.streamId, expectedVersion: request.expectedVersion, events: request.events.length },
          captureStackTrace: false
        })
      )

  /**
   * One stream's events in a range, with the columns given. Up to a moment: the prefix of versions
   * before the first one recorded after it. A clock that stepped back can give a later version an
   * earlier time; skipping over it would fold a history with a hole in it, a state that never existed.
   */
  const selectStream = <Row extends object>(selected: Statement.Fragment, streamId: string, range: StreamRange = {}) =>
    sql<Row>`SELECT ${selected} FROM events
      WHERE stream_id = ${streamId} AND version > ${range.afterVersion ?? 0}
        AND version <= ${range.toVersion ?? 2_147_483_647}
        ${range.recordedUntil === undefined ? sql`` : sql`AND version < coalesce((
          SELECT min(version) FROM events WHERE stream_id = ${streamId} AND recorded_at > ${range.recordedUntil}
        ), 2147483647)`}
      ORDER BY version`

  const readStream: EventStoreShape["readStream"] = (streamId, range) =>
    selectStream<EventRow>(columns, streamId, range).pipe(
      Effect.map((rows) => rows.map(toRecordedEvent)),
      Effect.withSpan("EventStore.readStream", { attributes: { streamId } })
    )

  const readHistory: EventStoreShape["readHistory"] = (streamId, range) =>
    selectStream<HistoryRow>(historyColumns, streamId, range).pipe(
      Effect.map(toHistoryEvents),
      Effect.withSpan("EventStore.readHistory", { attributes: { streamId }, captureStackTrace: false })
    )

  /**
   * Reading the whole log without ever passing over a late commit. Positions come from a sequence
   * before commit, so "position > last seen" alone can skip an event whose transaction commits after
   * one holding a higher position. Each row also records its transaction id (xid8), and readers walk
   * (transaction_id, global_position), taking only rows of transactions older than the oldest one
   * still in flight (pg_snapshot_xmin of the current snapshot). Every transaction below that bound has
   * ended, and every transaction that has not yet ended sorts at or above it, so anything that becomes
   * visible later sorts after everything already returned. The caller passes back the last position
   * it saw; its transaction id is looked up to resume from the same place in that order.
   */
  const readAll: EventStoreShape["readAll"] = ({ afterPosition, limit }) =>
    Effect.gen(function*() {
      let afterTransaction = "0"
      if (afterPosition > 0) {
        const [row] = yield* sql<{ transaction_id: string }>`
          SELECT transaction_id::text AS transaction_id FROM events WHERE global_position = ${afterPosition}`
        if (row === undefined) return yield* new UnknownPosition({ position: afterPosition })
        afterTransaction = row.transaction_id
      }
      const rows = yield* sql<EventRow>`SELECT ${columns} FROM events
        WHERE (transaction_id, global_position) > (${afterTransaction}::xid8, ${afterPosition}::bigint)
          AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY transaction_id, global_position
        LIMIT ${limit}`
      return rows.map(toRecordedEvent)
    }).pipe(Effect.withSpan("EventStore.readAll", { attributes: { afterPosition, limit } }))

  const headPosition: EventStoreShape["headPosition"] = sql<{ global_position: number }>`
    SELECT global_position FROM events WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY transaction_id DESC, global_position DESC LIMIT 1`.pipe(
    Effect.map((rows) => rows[0]?.global_position ?? 0),
    Effect.withSpan("EventStore.headPosition")
  )

  /**
   * One statement: the latest snapshot (first row, when there is one), a 'head' row that is always
   * there and carries the stream's version, and the events after the snapshot's version, with only
   * what folding needs.
   */
  const loadLatest: EventStoreShape["loadLatest"] = (streamId) =>
    sql<HistoryRow & { kind: "snapshot" | "event" | "head"; stream_version: number }>`
      WITH latest AS (
        SELECT version, schema_version, state FROM snapshots
        WHERE stream_id = ${streamId} ORDER BY version DESC LIMIT 1
      ), head AS (
        SELECT coalesce((SELECT version FROM events WHERE stream_id = ${streamId} ORDER BY version DESC LIMIT 1), 0) AS version
      )
      SELECT 'snapshot' AS kind, (SELECT version FROM head) AS stream_version, latest.version, NULL AS event_type,
        latest.schema_version, latest.state AS payload
      FROM latest
      UNION ALL
      -- After a snapshot, the versions past it are looked up one by one on the unique index: a plain
      -- "version > x", x unknown when planning, can make the planner scan the whole table instead.
      SELECT 'event', (SELECT version FROM head), e.*
      FROM latest
      CROSS JOIN LATERAL generate_series(latest.version + 1, (SELECT version FROM head)) AS tail(version)
      CROSS JOIN LATERAL (
        -- LIMIT 1 (the version is unique) keeps this a lookup per version: the planner cannot pull it up into a join.
        SELECT ${historyColumns} FROM events WHERE stream_id = ${streamId} AND events.version = tail.version LIMIT 1
      ) e
      UNION ALL
      SELECT 'event', (SELECT version FROM head), ${historyColumns} FROM events
      WHERE stream_id = ${streamId} AND NOT EXISTS (SELECT 1 FROM latest)
      UNION ALL
      SELECT 'head', (SELECT version FROM head), 0, NULL, 0, NULL
      ORDER BY 1 DESC, 3`.pipe(
      Effect.map((rows) => {
        // In kind order, descending: the snapshot (if any), the head, then the events by version.
        const first = rows[0]!
        const snapshot = first.kind === "snapshot"
          ? Option.some({ version: first.version, schemaVersion: first.schema_version, state: first.payload })
          : Option.none()
        const headAt = Option.isSome(snapshot) ? 1 : 0
        return { snapshot, events: toHistoryEvents(rows.slice(headAt + 1)), streamVersion: rows[headAt]!.stream_version }
      }),
      Effect.withSpan("EventStore.loadLatest", { attributes: { streamId }, captureStackTrace: false })
    )

  /**
   * One statement: the snapshot, and the retention. Both parts see the table as it was before the
   * statement, and the delete touches only versions below the one saved, so it never meets the row
   * the insert writes (or rewrites, on conflict); newer snapshots, saved out of order, stay.
   */
  const saveSnapshot: EventStoreShape["saveSnapshot"] = (snapshot) => {
    const olderKept = Math.max(1, Math.floor(snapshot.keep)) - 1
    return sql`
      WITH saved AS (
        INSERT INTO snapshots (stream_id, version, stream_type, schema_version, state)
        VALUES (${snapshot.streamId}, ${snapshot.version}, ${snapshot.streamType}, ${snapshot.schemaVersion},
          ${JSON.stringify(snapshot.state)}::jsonb)
        ON CONFLICT (stream_id, version) DO UPDATE SET schema_version = EXCLUDED.schema_version, state = EXCLUDED.state,
          taken_at = now()
      )
      DELETE FROM snapshots WHERE stream_id = ${snapshot.streamId} AND version < ${snapshot.version} AND version NOT IN (
        SELECT version FROM snapshots WHERE stream_id = ${snapshot.streamId} AND version < ${snapshot.version}
        ORDER BY version DESC LIMIT ${olderKept}
      )`.pipe(
      Effect.asVoid,
      Effect.withSpan("EventStore.saveSnapshot", { attributes: { streamId: snapshot.streamId, keep: snapshot.keep } })
    )
  }

  return EventStore.of({
    append,
    readStream,
    readHistory,
    streamVersion,
    appliedThrough,
    readAll,
    headPosition,
    findIdempotency,
    loadLatest,
    saveSnapshot
  })
})

export const layerWith = (options: PgEventStoreOptions) => Layer.scoped(EventStore, make(options))

export const layer = layerWith(defaultOptions)
