/** How the console writes values: times in UTC, money with its currency, ids and JSON in monospace. Pure. */
import { type Html, html } from "./html.js"

/** `2026-05-06 07:08:09 UTC`: one zone for everyone who reads the same page. */
export const time = (value: string | Date | null | undefined): string => {
  if (value === null || value === undefined || value === "") return "—"
  const date = typeof value === "string" ? new Date(value) : value
  return Number.isNaN(date.getTime()) ? String(value) : `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`
}

/** A `<time>` element: readable text, machine-readable datetime. */
export const timeTag = (value: string | Date | null | undefined): Html => {
  if (value === null || value === undefined || value === "") return html`<span class="muted">—</span>`
  const date = typeof value === "string" ? new Date(value) : value
  return Number.isNaN(date.getTime()) ? html`${String(value)}` : html`<time datetime="${date.toISOString()}">${time(date)}</time>`
}

export const money = (cents: number | null | undefined, currency: string | null | undefined): string =>
  cents === null || cents === undefined ? "—" : `${(cents / 100).toFixed(2)} ${currency ?? ""}`.trim()

/** An id, in monospace. */
export const id = (value: string | null | undefined): Html =>
  value === null || value === undefined || value === "" ? html`<span class="muted">—</span>` : html`<code class="id">${value}</code>`

/** A value as JSON, pretty-printed when it is more than a scalar. */
export const json = (value: unknown): string => {
  if (value === undefined) return "—"
  return typeof value === "object" && value !== null ? JSON.stringify(value, null, 2) : JSON.stringify(value)
}

/** A value as inline JSON (one line), for diffs and table cells. */
export const inlineJson = (value: unknown): string => value === undefined ? "—" : JSON.stringify(value)

export const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`

/** The trace id of a W3C traceparent (`00-<trace id>-<span id>-<flags>`); none when it is not one. */
export const traceIdOf = (traceparent: string | undefined): string | undefined => {
  const match = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent ?? "")
  return match === null || /^0+$/.test(match[1]!) ? undefined : match[1]
}

/** The trace viewer's address for a trace, from the configured template. */
export const traceUrl = (template: string, traceId: string) => template.replaceAll("{traceId}", encodeURIComponent(traceId))
