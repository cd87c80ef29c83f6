/**
 * The console's one place for HTML escaping: a tagged template, `html\`<p>${text}</p>\``, that escapes
 * every interpolated value unless it is already `Html` (made by this template, so escaped in its
 * turn). Pages never concatenate strings into markup; whatever a user, a token or an event brought
 * in goes through here.
 */

/** Markup known to be safe: what `html` produced, or a constant of the code marked with `trusted`. */
export class Html {
  constructor(readonly value: string) {}
  toString() {
    return this.value
  }
}

/**
 * What a template may interpolate: text and numbers are escaped; `Html` goes in as it is; lists are
 * joined; `null`, `undefined` and `false` render nothing, so that `${condition && html\`…\`}` works.
 */
export type Interpolation = Html | string | number | bigint | boolean | null | undefined | ReadonlyArray<Interpolation>

const entities: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;", "`": "&#96;" }

/** Text made safe for element content and quoted attribute values. */
export const escape = (text: string): string => text.replace(/[&<>"'`]/g, (char) => entities[char]!)

const render = (value: Interpolation): string => {
  if (value instanceof Html) return value.value
  if (value === null || value === undefined || value === false) return ""
  if (Array.isArray(value)) return value.map(render).join("")
  return escape(String(value))
}

export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Interpolation>): Html => {
  let out = strings[0] ?? ""
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? "")
  })
  return new Html(out)
}

/** A constant of the code taken as markup as it is: never for anything that came from outside. */
export const trusted = (markup: string): Html => new Html(markup)

/** Items joined by a separator (itself escaped unless it is Html). */
export const join = (items: ReadonlyArray<Interpolation>, separator: Interpolation): Html =>
  new Html(items.map(render).join(render(separator)))
