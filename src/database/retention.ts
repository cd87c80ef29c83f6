/** Deleting what is past its retention: a batch at a time, until a batch comes back short, then again a minute later. */
import { Effect } from "effect"

export const PURGE_BATCH = 10_000

/**
 * Runs `purge(PURGE_BATCH)` (which gives how many rows it deleted) for ever. With `what`, a failed
 * round is logged as a warning naming it and tried again a minute later; without, it fails the loop.
 */
export const purgeForever = <E, R>(purge: (limit: number) => Effect.Effect<number, E, R>, what?: string) => {
  const round = purge(PURGE_BATCH).pipe(Effect.repeat({ while: (purged) => purged >= PURGE_BATCH }))
  return (what === undefined ? Effect.asVoid(round) : round.pipe(
    Effect.asVoid,
    Effect.catchAll((error) => Effect.logWarning(`${what} not purged; trying again in a minute`, error))
  )).pipe(Effect.zipRight(Effect.sleep("1 minute")), Effect.forever)
}
