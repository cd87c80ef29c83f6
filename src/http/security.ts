/**
 * How the API declares its security: the bearer-token middleware its protected groups carry, the
 * caller it hands their handlers, and the action each endpoint performs, from which the access
 * policy decides who may call it. The OpenAPI document states both, per operation.
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as OpenApi from "@effect/platform/OpenApi"
import { Context, Schema } from "effect"
import { type Action, covers, type Grant, type Principal, whoMay } from "../auth/policy.js"
import { Forbidden, TooManyRequests, Unauthorized, Unavailable } from "./errors.js"

/** The authenticated caller of a protected endpoint, and what the policy grants them for its action. */
export interface CallerShape {
  readonly principal: Principal
  readonly grant: Grant
}

export class Caller extends Context.Tag("http/Caller")<Caller, CallerShape>() {
  /** Whether the caller may act on the orders of this customer (null: no such order). */
  static readonly covers = (caller: CallerShape, customerId: string | null) => covers(caller.grant, caller.principal, customerId)
}

export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("http/Authentication", {
  failure: Schema.Union(Unauthorized, Forbidden, TooManyRequests, Unavailable),
  provides: Caller,
  security: {
    bearer: HttpApiSecurity.bearer.pipe(
      HttpApiSecurity.annotate(
        OpenApi.Description,
        "A JWT from the identity provider: signed with one of its keys, with this API's issuer and audience, a " +
          "subject (`sub`, for a customer their customer id) and roles (customer, staff, admin, service)"
      )
    )
  }
}) {}

/** The action an endpoint performs, which the policy is asked about. */
export class RequiredAction extends Context.Tag("http/RequiredAction")<RequiredAction, Action>() {}

const reachText = { own: "their own orders", any: "any order" } as const

/** Who may call an action, in words: "customer (their own orders), staff (any order)". */
export const whoMayText = (action: Action) =>
  whoMay(action).map(({ reach, role }) => `${role} (${reachText[reach]})`).join(", ")

/**
 * An endpoint's action with its description: the OpenAPI operation says who may call it, in its
 * description and as `x-roles`.
 */
export const performs = (action: Action, description: string) =>
  Context.empty().pipe(
    Context.add(RequiredAction, action),
    Context.add(OpenApi.Description, `${description}\n\nWho may call it: ${whoMayText(action)}.`),
    Context.add(OpenApi.Override, { "x-roles": whoMay(action) })
  )
