/**
 * One active process at a time, elected by a PostgreSQL advisory lock: the outbox relay (per-key
 * order to Kafka needs one publisher) and the process manager's feed (one reader of the log per
 * process). The others stand by and try again every second.
 *
 * The lock lives on a session of its own, never a pooled connection, and ends with it: closing the
 * session at the end of the term releases it, and a session that cannot be closed is destroyed,
 * never reused. The server ends the session itself when its heartbeat stops for
 * LOCK_SESSION_IDLE_TIMEOUT, and the leader steps down when a heartbeat is not answered within it —
 * a leader whose connection went half-open cannot keep the lock from a standby.
 */
import { Duration, Effect } from "effect"
import * as PgDatabase from "./PgDatabase.js"

/** This process's part in an election: `starting` until its first try for the lock. */
export type Role = "starting" | "active" | "standby"

/** The leader's term: what a fenced write checks (the lock is still held by this session). */
export interface Term {
  readonly lockKey: number
  readonly leaderPid: number
}

const LOCK_SESSION_IDLE_TIMEOUT = Duration.seconds(2)
const HEARTBEAT_INTERVAL = Duration.millis(500)
const RETRY_INTERVAL = Duration.seconds(1)

export interface LeadershipOptions {
  readonly lockKey: number
  /** Who is elected, in the logs: "outbox relay" logs "outbox relay active: <activeMessage>". */
  readonly name: string
  readonly activeMessage: string
  readonly onRole?: ((role: Role) => Effect.Effect<void>) | undefined
}

/**
 * Runs `work` whenever this process holds the lock, for as long as it does; stands by otherwise.
 * Never returns: a term that ends (the work failed, or the lock's session stopped answering) is
 * followed by another try a second later.
 */
export const whileLeading = <E, R>(options: LeadershipOptions, work: (term: Term) => Effect.Effect<void, E, R>) =>
  Effect.gen(function*() {
    const sessions = yield* PgDatabase.Sessions
    const setRole = (role: Role) => options.onRole?.(role) ?? Effect.void

    /** One term; false when another process holds the lock. */
    const lead = Effect.scoped(Effect.gen(function*() {
      const session = yield* sessions.open
      yield* PgDatabase.query(session, `SET idle_session_timeout = ${Duration.toMillis(LOCK_SESSION_IDLE_TIMEOUT)}`)
      const [lock] = yield* PgDatabase.query<{ locked: boolean; pid: number }>(
        session,
        "SELECT pg_try_advisory_lock($1) AS locked, pg_backend_pid() AS pid",
        [options.lockKey]
      )
      if (lock === undefined || !lock.locked) return yield* Effect.as(setRole("standby"), false)
      yield* setRole("active")
      yield* Effect.addFinalizer(() => setRole("standby"))
      yield* Effect.logInfo(`${options.name} active: ${options.activeMessage}`).pipe(Effect.annotateLogs({ sessionPid: lock.pid }))
      const heartbeat = PgDatabase.query(session, "SELECT 1").pipe(
        Effect.timeoutFail({
          duration: LOCK_SESSION_IDLE_TIMEOUT,
          onTimeout: () => new Error(`the ${options.name}'s lock session did not answer in ${Duration.format(LOCK_SESSION_IDLE_TIMEOUT)}`)
        }),
        Effect.zipRight(Effect.sleep(HEARTBEAT_INTERVAL)),
        Effect.forever
      )
      return yield* Effect.raceFirst(Effect.as(work({ lockKey: options.lockKey, leaderPid: lock.pid }), true), heartbeat)
    }))

    let standing = false
    return yield* lead.pipe(
      Effect.matchCauseEffect({
        onSuccess: () => {
          if (standing) return Effect.sleep(RETRY_INTERVAL)
          standing = true
          return Effect.zipRight(Effect.logInfo(`${options.name} standing by: another process is active`), Effect.sleep(RETRY_INTERVAL))
        },
        onFailure: (cause) => {
          standing = false
          return Effect.zipRight(
            Effect.logWarning(`${options.name} stepped down; it tries to become active again in 1 s`, cause),
            Effect.sleep(RETRY_INTERVAL)
          )
        }
      }),
      Effect.forever
    )
  })
