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

const isoCurrencies: ReadonlySet<string> = new Set(Intl.supportedValuesOf("currency"))

export const Currency = Schema.String.pipe(
  Schema.filter((code) => /^[A-Z]{3}$/.test(code) && isoCurrencies.has(code), {
    message: () => "currency must be an ISO 4217 code such as EUR or USD"
  })
)

export const CustomerId = Schema.UUID.annotations({ message: () => "customerId must be a UUID" })

export const NonEmptyText = (field: string, maxLength: number) =>
  Schema.String.pipe(
    Schema.filter((s) => s.trim().length > 0 && s.length <= maxLength, {
      message: () => `${field} must be 1 to ${maxLength} characters, not blank`
    })
  )

export const OrderLine = Schema.Struct({
  sku: Sku,
  quantity: Quantity,
  unitPriceCents: UnitPriceCents
})
export type OrderLine = typeof OrderLine.Type
