/** Query parameters: their text decoded, and their schema in the API's document stated as what they accept. */
import { Schema } from "effect"

/**
 * A whole number from `min` to `max`, written in decimal. The document says `integer` with its
 * bounds (what a query string's text is decoded to), so it allows exactly what the server takes.
 */
export const IntParam = (name: string, min: number, max: number) =>
  Schema.NumberFromString.pipe(
    Schema.int(),
    Schema.between(min, max),
    Schema.annotations({
      message: () => `${name} must be a whole number from ${min} to ${max}`,
      jsonSchema: { type: "integer", minimum: min, maximum: max }
    })
  )
