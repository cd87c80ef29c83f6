import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { migrationsApplied, migrationsDirectory, runMigrations } from "../../src/database/migrations.js"
import { scratchDatabase, sqlLayer } from "../support/databases.js"

/** Runs `use` against a fresh database with a copy of the project's migrations it may change. */
const withFreshDatabase = <A, E>(
  use: (directory: string) => Effect.Effect<A, E, SqlClient.SqlClient | FileSystem.FileSystem | Path.Path>
) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* fs.makeTempDirectoryScoped()
    yield* fs.copy(migrationsDirectory, directory, { overwrite: true })
    const database = yield* scratchDatabase
    return yield* use(directory).pipe(Effect.provide(sqlLayer(database.url)))
  }).pipe(Effect.scoped, Effect.provide(NodeContext.layer))

const history = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ id: number; name: string; checksum: string; appliedAt: Date }>`
    SELECT id, name, checksum, applied_at AS "appliedAt" FROM schema_migrations ORDER BY id`)

const addMigration = (directory: string, name: string, text: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.writeFileString(`${directory}/${name}`, text))

describe("migrations", () => {
  it.live("apply every file in order once; a second run changes nothing", () =>
    withFreshDatabase((directory) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const files = (yield* fs.readDirectory(directory)).filter((name) => name.endsWith(".sql")).sort()
        expect(yield* migrationsApplied(directory)).toBe(false)
        expect(yield* runMigrations(directory)).toEqual(files)
        const first = yield* history
        expect(first.map((row) => row.name)).toEqual(files)
        expect(yield* migrationsApplied(directory)).toBe(true)
        expect(yield* runMigrations(directory)).toEqual([])
        expect(yield* history).toEqual(first)
      })))

  it.live("refuse to start when an applied file was edited, and apply nothing", () =>
    withFreshDatabase((directory) =>
      Effect.gen(function*() {
        yield* runMigrations(directory)
        const before = yield* history
        const fs = yield* FileSystem.FileSystem
        const first = before[0]!.name
        yield* fs.writeFileString(`${directory}/${first}`, (yield* fs.readFileString(`${directory}/${first}`)) + "\n-- edited\n")
        yield* addMigration(directory, "9001_later.sql", "CREATE TABLE later (id int);")
        const refused = yield* Effect.flip(runMigrations(directory))
        expect(refused).toMatchObject({
          _tag: "MigrationFailed",
          migration: first,
          reason: expect.stringMatching(/changed after it was applied/)
        })
        expect(yield* history).toEqual(before)
      })))

  it.live("a failing file rolls the whole run back and names the file", () =>
    withFreshDatabase((directory) =>
      Effect.gen(function*() {
        yield* runMigrations(directory)
        const before = yield* history
        yield* addMigration(directory, "9001_good.sql", "CREATE TABLE good (id int);")
        yield* addMigration(directory, "9002_bad.sql", "CREATE TABLE bad (id no_such_type);")
        const failed = yield* Effect.flip(runMigrations(directory))
        expect(failed).toMatchObject({
          _tag: "MigrationFailed",
          migration: "9002_bad.sql",
          reason: expect.stringMatching(/no_such_type/)
        })
        expect(yield* history).toEqual(before)
        const sql = yield* SqlClient.SqlClient
        expect(yield* sql`SELECT to_regclass('good') AS t`).toEqual([{ t: null }])
      })))

  it.live("a file merged late with a lower number is applied, not skipped", () =>
    withFreshDatabase((directory) =>
      Effect.gen(function*() {
        yield* addMigration(directory, "9002_second.sql", "CREATE TABLE second (id int);")
        yield* runMigrations(directory)
        yield* addMigration(directory, "9001_first.sql", "CREATE TABLE first (id int);")
        expect(yield* runMigrations(directory)).toEqual(["9001_first.sql"])
      })))

  it.live("processes starting at once apply each file exactly once", () =>
    withFreshDatabase((directory) =>
      Effect.gen(function*() {
        const runs = yield* Effect.all(Array.from({ length: 4 }, () => runMigrations(directory)), { concurrency: "unbounded" })
        const applied = runs.flat()
        expect(applied.length).toBe(new Set(applied).size)
        expect((yield* history).map((row) => row.name).sort()).toEqual([...applied].sort())
      })))
})

