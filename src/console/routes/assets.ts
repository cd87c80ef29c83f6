/** The console's static files: its style sheet and scripts, which browsers may keep an hour. */
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Effect } from "effect"
import type { Asset } from "../assets.js"
import { paths } from "../paths.js"
import type { ConsoleRouter, ConsoleShell } from "../shell.js"

export const assetRoutes = (router: ConsoleRouter, shell: ConsoleShell) =>
  Effect.gen(function*() {
    const { assets } = shell

    const serveAsset = (asset: Asset) =>
      HttpServerResponse.text(asset.body, { contentType: asset.contentType, headers: { "cache-control": "public, max-age=3600" } })

    yield* router.get(paths.htmx, Effect.succeed(serveAsset(assets.htmx)))
    yield* router.get(paths.css, Effect.succeed(serveAsset(assets.css)))
    yield* router.get(paths.script, Effect.succeed(serveAsset(assets.script)))
  })
