/**
 * Liveness and readiness, for orchestrators and load balancers: public, like the OpenAPI document.
 * Metrics are not here: they are on the ops port (observability/opsServer.ts).
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"
import { Unavailable } from "../errors.js"

const open = (description: string) => `${description}\n\nPublic: no token needed.`

export class SystemApi extends HttpApiGroup.make("system")
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      .annotate(OpenApi.Description, open("The process is alive"))
  )
  .add(
    HttpApiEndpoint.get("ready", "/ready")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ready") }))
      .addError(Unavailable)
      .annotate(OpenApi.Description, open("The database answers and every migration is applied"))
  )
{}
