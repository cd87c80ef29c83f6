/** The PostgreSQL client layer: one pool per process, built from the settings. */
import { PgClient } from "@effect/sql-pg"
import { Duration, Layer, type Redacted } from "effect"
import pg from "pg"

export interface PgDatabaseOptions {
  readonly url: Redacted.Redacted
  readonly maxConnections: number
  readonly applicationName?: string
}

/**
 * bigint columns here are positions and counters that stay far below 2^53, so they are read as
 * numbers rather than strings; every other type keeps node-pg's parser.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.INT8 && format !== "binary"
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format ?? "text")) as pg.CustomTypesConfig["getTypeParser"]
}

export const layer = (options: PgDatabaseOptions) =>
  PgClient.layer({
    url: options.url,
    maxConnections: options.maxConnections,
    idleTimeout: Duration.seconds(30),
    connectTimeout: Duration.seconds(10),
    applicationName: options.applicationName ?? "event-sourced-actors",
    types
  }).pipe(Layer.orDie)
