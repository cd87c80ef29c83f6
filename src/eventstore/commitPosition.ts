/**
 * A place in the log's commit order: (transaction id, global position). Rows are read and relayed
 * in this order, which is safe against concurrent appends (see commitOrderGuard.ts for where it
 * stops being valid).
 */

/** The transaction id is decimal text (PostgreSQL xid8). */
export interface CommitPosition {
  readonly transactionId: string
  readonly globalPosition: number
}

/** Commit order of two positions: negative when `a` comes first. */
export const compareCommitPositions = (a: CommitPosition, b: CommitPosition): number => {
  const byTransaction = BigInt(a.transactionId) - BigInt(b.transactionId)
  return byTransaction !== 0n ? (byTransaction < 0n ? -1 : 1) : a.globalPosition - b.globalPosition
}
