/**
 * Values a JSON Schema allows, generated with fast-check: the subset of JSON Schema 2020-12 that
 * this API's OpenAPI document uses (types, enum, const, pattern, lengths, bounds, items, required and
 * optional properties, anyOf/oneOf, local $ref). Anything else is an error here rather than a guess,
 * so that the document cannot grow a constraint the contract test silently ignores.
 */
import { FastCheck as fc } from "effect"

export type JsonSchema = Readonly<Record<string, any>>

/** Resolves `#/…` references against the whole document. */
export const resolver = (document: JsonSchema) => (schema: JsonSchema): JsonSchema => {
  if (typeof schema.$ref !== "string") return schema
  const target = (schema.$ref as string).replace(/^#\//, "").split("/").reduce<any>((node, key) => node?.[key], document)
  if (target === undefined) throw new Error(`unresolved $ref ${schema.$ref}`)
  // Siblings of $ref (2020-12) narrow what it points at: minimum, maximum, description…
  const { $ref: _ref, ...siblings } = schema
  return { ...resolver(document)(target), ...siblings }
}

const understood = new Set([
  "type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum", "items", "minItems", "maxItems",
  "properties", "required", "additionalProperties", "anyOf", "oneOf", "format", "description", "title", "$ref", "$id"
])

const codePoints = (text: string) => [...text].length

export const arbitraryOf = (document: JsonSchema) => {
  const resolve = resolver(document)
  const of = (raw: JsonSchema): fc.Arbitrary<unknown> => {
    const schema = resolve(raw)
    const unknown = Object.keys(schema).filter((key) => !understood.has(key))
    if (unknown.length > 0) throw new Error(`no generator for ${unknown.join(", ")} in ${JSON.stringify(schema)}`)
    if (schema.const !== undefined) return fc.constant(schema.const)
    if (Array.isArray(schema.enum)) return fc.constantFrom(...schema.enum)
    const alternatives = schema.anyOf ?? schema.oneOf
    if (Array.isArray(alternatives)) return fc.oneof(...alternatives.map(of))
    switch (schema.type) {
      case "string": {
        if (schema.format === "uuid") return fc.uuid()
        const min = schema.minLength ?? 0
        const max = schema.maxLength ?? 40
        const base = typeof schema.pattern === "string"
          ? fc.stringMatching(new RegExp(schema.pattern, "u"))
          : fc.string({ minLength: min, maxLength: max, unit: "grapheme" })
        return base.filter((text) => codePoints(text) >= min && codePoints(text) <= max)
      }
      case "integer":
        return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 })
      case "number":
        return fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true })
      case "boolean":
        return fc.boolean()
      case "null":
        return fc.constant(null)
      case "array":
        return fc.array(of(schema.items ?? {}), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 4, 4) })
      case "object": {
        const properties: Record<string, JsonSchema> = schema.properties ?? {}
        const required = new Set<string>(schema.required ?? [])
        return fc.record(
          Object.fromEntries(Object.entries(properties).map(([name, property]) => [name, of(property)])),
          { requiredKeys: [...required] }
        )
      }
      default:
        throw new Error(`no generator for ${JSON.stringify(schema)}`)
    }
  }
  return of
}
