/**
 * Plain-SQL migrations from migrations/NNNN_name.sql, applied in order at start-up and recorded in
 * schema_migrations with a checksum. Every file not yet recorded runs, whatever its number (a late
 * branch's lower number is not skipped), all in one transaction under an advisory lock so that two
 * processes starting at once apply each file once. A recorded file whose text changed stops start-up:
 * applied migrations are history, like events.
 */
import { SqlClient } from "@effect/sql"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import { Data, Effect } from "effect"
import { createHash } from "node:crypto"
import { fileURLToPath } from "node:url"

/**
 * migrations/ at the package root, two levels up from this module: the same from src/database/ (tsx,
 * the tests) as from dist/database/ (the build, whose rootDir is src/, so it mirrors the tree). The
 * folder ships next to dist/, not inside it (see the Dockerfile).
 */
export const migrationsDirectory = fileURLToPath(new URL("../../migrations", import.meta.url))

/** Key of the advisory lock that serializes migration runs across processes. */
export const MIGRATION_LOCK = 7_411_001

export class MigrationFailed extends Data.TaggedError("MigrationFailed")<{
  readonly migration: string
  readonly reason: string
}> {
  override get message() {
    return `migration ${this.migration}: ${this.reason}`
  }
}

interface MigrationFile {
  readonly id: number
  readonly name: string
  readonly text: string
  readonly checksum: string
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/

const readMigrations = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const names = (yield* fs.readDirectory(directory)).filter((name) => FILE_NAME.test(name)).sort()
    return yield* Effect.forEach(names, (fileName) =>
      Effect.map(fs.readFileString(path.join(directory, fileName)), (text): MigrationFile => ({
        id: Number(FILE_NAME.exec(fileName)![1]),
        name: fileName,
        text,
        checksum: createHash("sha256").update(text).digest("hex")
      })))
  })

/** Applies the pending migrations; returns the names it applied (none when all were there). */
export const runMigrations = (directory: string = migrationsDirectory) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const files = yield* readMigrations(directory)
    const duplicate = files.find((file, i) => files.findIndex((other) => other.id === file.id) !== i)
    if (duplicate) {
      return yield* new MigrationFailed({ migration: duplicate.name, reason: `another file has number ${duplicate.id}` })
    }
    return yield* sql.withTransaction(Effect.gen(function*() {
      yield* sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`
      yield* sql`CREATE TABLE IF NOT EXISTS schema_migrations (
        id integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`
      const applied = new Map(
        (yield* sql<{ id: number; name: string; checksum: string }>`SELECT id, name, checksum FROM schema_migrations`)
          .map((row) => [row.id, row] as const)
      )
      const ran: Array<string> = []
      for (const file of files) {
        const previous = applied.get(file.id)
        if (previous !== undefined) {
          if (previous.checksum !== file.checksum) {
            return yield* new MigrationFailed({
              migration: file.name,
              reason: "the file changed after it was applied; add a new migration instead of editing an old one"
            })
          }
          continue
        }
        yield* sql.unsafe(file.text).pipe(
          Effect.mapError((error) => new MigrationFailed({ migration: file.name, reason: String(error.cause ?? error) }))
        )
        yield* sql`INSERT INTO schema_migrations (id, name, checksum) VALUES (${file.id}, ${file.name}, ${file.checksum})`
        ran.push(file.name)
      }
      return ran
    }))
  }).pipe(
    Effect.tap((ran) =>
      ran.length > 0
        ? Effect.logInfo("migrations applied").pipe(Effect.annotateLogs({ migrations: ran.join(",") }))
        : Effect.void
    ),
    Effect.withSpan("Migrations.run")
  )

/** True when every migration file in the directory is recorded as applied (used by /ready). */
export const migrationsApplied = (directory: string = migrationsDirectory) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const files = yield* readMigrations(directory)
    const rows = yield* sql<{ id: number }>`SELECT id FROM schema_migrations`.pipe(
      Effect.catchTag("SqlError", () => Effect.succeed([]))
    )
    const applied = new Set(rows.map((row) => row.id))
    return files.every((file) => applied.has(file.id))
  })
