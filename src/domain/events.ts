/**
 * Event catalogue: how one aggregate's domain events are written to and read from storage.
 *
 * A stored event is `{ type, schemaVersion, data }`: `type` is the event's tag, `data` its encoded
 * fields without the tag. Each type has a current schema version; upcasters lift older stored
 * payloads one version at a time (v1 → v2 → v3) when they are read, so stored events are never
 * rewritten.
 */
import { Data, Either, ParseResult, Schema } from "effect"

export interface StoredEventData {
  readonly type: string
  readonly schemaVersion: number
  readonly data: unknown
}

/** A stored event could not be turned into a domain event (unknown type, newer version, bad payload). */
export class EventDecodeFailed extends Data.TaggedError("EventDecodeFailed")<{
  readonly type: string
  readonly schemaVersion: number
  readonly reason: string
}> {}

export interface EventVersioning {
  /** The version written today. */
  readonly schemaVersion: number
  /** `upcasters[v]` turns a payload stored at version v into the shape of version v + 1. */
  readonly upcasters?: Readonly<Record<number, (data: Record<string, unknown>) => Record<string, unknown>>>
}

export interface EventCatalog<Event extends { readonly _tag: string }> {
  readonly types: ReadonlyArray<Event["_tag"]>
  readonly schemaVersionOf: (type: Event["_tag"]) => number
  readonly encode: (event: Event) => StoredEventData
  readonly decode: (stored: StoredEventData) => Either.Either<Event, EventDecodeFailed>
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

export const makeEventCatalog = <Event extends { readonly _tag: string }, I extends { readonly _tag: string }>(
  schema: Schema.Schema<Event, I>,
  versions: { readonly [T in Event["_tag"]]: EventVersioning }
): EventCatalog<Event> => {
  const encodeEvent = Schema.encodeSync(schema)
  const decodeEvent = Schema.decodeUnknownEither(schema)
  const table: Readonly<Record<string, EventVersioning>> = versions
  const types = Object.keys(versions) as Array<Event["_tag"]>

  const upcast = (stored: StoredEventData, versioning: EventVersioning): Either.Either<Record<string, unknown>, string> => {
    if (!isRecord(stored.data)) return Either.left("payload is not a JSON object")
    if (stored.schemaVersion > versioning.schemaVersion) {
      return Either.left(`schema version ${stored.schemaVersion} is newer than this code knows (${versioning.schemaVersion})`)
    }
    let data = stored.data
    for (let v = stored.schemaVersion; v < versioning.schemaVersion; v++) {
      const lift = versioning.upcasters?.[v]
      if (lift === undefined) return Either.left(`no upcaster from schema version ${v}`)
      data = lift(data)
    }
    return Either.right(data)
  }

  return {
    types,
    schemaVersionOf: (type) => table[type]!.schemaVersion,
    encode: (event) => {
      const { _tag, ...data } = encodeEvent(event)
      return { type: _tag, schemaVersion: table[_tag]!.schemaVersion, data }
    },
    decode: (stored) => {
      const fail = (reason: string) =>
        Either.left(new EventDecodeFailed({ type: stored.type, schemaVersion: stored.schemaVersion, reason }))
      const versioning = table[stored.type]
      if (versioning === undefined) return fail("unknown event type")
      return Either.match(upcast(stored, versioning), {
        onLeft: fail,
        onRight: (data) =>
          Either.mapLeft(
            decodeEvent({ ...data, _tag: stored.type }),
            (error) => new EventDecodeFailed({
              type: stored.type,
              schemaVersion: stored.schemaVersion,
              reason: ParseResult.TreeFormatter.formatErrorSync(error)
            })
          )
      })
    }
  }
}
