/**
 * Value schemas of the Order aggregate, shared by the events and by the HTTP edge so that the rules
 * on a value are stated once.
 */
import { Schema } from "effect"

export const MAX_LINES = 100
export const MIN_QUANTITY = 1
export const MAX_QUANTITY = 1000
/** 1,000,000.00 in the currency's minor unit: keeps every total far inside a safe integer. */
export const MAX_UNIT_PRICE_CENTS = 100_000_000

export const Sku = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: () => "a SKU is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
  })
)

export const Quantity = Schema.Int.pipe(
  Schema.between(MIN_QUANTITY, MAX_QUANTITY, {
    message: () => `quantity must be a whole number from ${MIN_QUANTITY} to ${MAX_QUANTITY}`
  })
)

export const UnitPriceCents = Schema.Int.pipe(
  Schema.between(0, MAX_UNIT_PRICE_CENTS, {
    message: () => `unitPriceCents must be a whole number of cents from 0 to ${MAX_UNIT_PRICE_CENTS}`
  })
)

export const AmountCents = Schema.Int.pipe(
  Schema.between(0, MAX_LINES * MAX_QUANTITY * MAX_UNIT_PRICE_CENTS, {
    message: () => "amountCents must be a non-negative whole number of cents"
  })
)

const isoCurrencies: ReadonlyArray<string> = Intl.supportedValuesOf("currency").filter((code) => /^[A-Z]{3}$/.test(code))
const isoCurrencySet: ReadonlySet<string> = new Set(isoCurrencies)

/** An ISO 4217 code the runtime knows; the API's schema lists them (`enum`), so it allows no other. */
export const Currency = Schema.String.pipe(
  Schema.filter((code) => isoCurrencySet.has(code), {
    message: () => "currency must be an ISO 4217 code such as EUR or USD",
    jsonSchema: { enum: isoCurrencies }
  })
)

export const CustomerId = Schema.UUID.annotations({ message: () => "customerId must be a UUID" })

/**
 * Text PostgreSQL can store (no U+0000, no unpaired surrogate) with something in it besides white
 * space: one pattern, which the API's schema states as it is.
 */
const storableNonBlank = /^[^\u0000\ud800-\udfff]*[^\s\u0000\ud800-\udfff][^\u0000\ud800-\udfff]*$/u

/**
 * Not blank, storable, at most `maxLength` characters counted as JSON Schema counts them (code
 * points, not UTF-16 units), and stated so in the API's schema.
 */
export const NonEmptyText = (field: string, maxLength: number) =>
  Schema.String.pipe(
    Schema.filter((s) => storableNonBlank.test(s) && [...s].length <= maxLength, {
      message: () => `${field} must be 1 to ${maxLength} characters, not blank, without U+0000 or unpaired surrogates`,
      jsonSchema: { maxLength, pattern: storableNonBlank.source }
    })
  )

export const OrderLine = Schema.Struct({
  sku: Sku,
  quantity: Quantity,
  unitPriceCents: UnitPriceCents
})
export type OrderLine = typeof OrderLine.Type
