/**
 * The console's static files, read or made once when the routes are built: htmx (the pinned
 * package's own minified file), the style sheet and the one small script. Served from the console's
 * own origin so that its Content-Security-Policy can be `default-src 'self'`: no CDN, no inline code.
 * The style sheet and script live in TypeScript modules so that the compiled build carries them.
 */
import { readFile } from "node:fs/promises"
import { createRequire } from "node:module"
import { Effect } from "effect"
import { script } from "./script.js"
import { styles } from "./styles.js"

export interface Asset {
  readonly body: string
  readonly contentType: string
}

export const loadAssets = Effect.promise(async () => {
  const htmx = await readFile(createRequire(import.meta.url).resolve("htmx.org/dist/htmx.min.js"), "utf8")
  return {
    htmx: { body: htmx, contentType: "text/javascript; charset=utf-8" },
    css: { body: styles, contentType: "text/css; charset=utf-8" },
    script: { body: script, contentType: "text/javascript; charset=utf-8" }
  } satisfies Record<string, Asset>
})
