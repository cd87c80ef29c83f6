/**
 * Who may do what: the one table of the access policy, and the decisions drawn from it. Pure: no
 * tokens, no HTTP, no store. A principal holds roles; each action grants each role a reach, either
 * `any` order or only the caller's `own` (the orders whose customer is the principal's subject).
 * A role the action does not name has no access to it.
 */

export const roles = ["customer", "staff", "admin", "service"] as const
export type Role = (typeof roles)[number]

export const isRole = (value: string): value is Role => (roles as ReadonlyArray<string>).includes(value)

/** Who is calling, as the token says: the subject (for a customer, the customer id) and the roles. */
export interface Principal {
  readonly subject: string
  readonly roles: ReadonlyArray<Role>
}

export type Reach = "own" | "any"

type Grants = { readonly [R in Role]?: Reach }

const everyone: Grants = { customer: "own", staff: "any", admin: "any", service: "any" }
const customerWork: Grants = { customer: "own", admin: "any", service: "any" }
const fulfilment: Grants = { staff: "any", admin: "any", service: "any" }
const anyone: Grants = { customer: "any", staff: "any", admin: "any", service: "any" }
const adminOnly: Grants = { admin: "any" }

/**
 * The policy. `admin` may do everything; `service` is the role of this system's own processes where
 * they call the API, and may command and read any order; `staff` read any order, ship and deliver,
 * and cancel any order (always with a reason: the request requires one), and set stock; a `customer`
 * places orders for themselves and reads and changes only their own, and reads any SKU's stock.
 * Only `admin` operates the pipeline (the web console's status, dead letters and quarantine).
 */
export const policy = {
  placeOrder: customerWork,
  addItem: customerWork,
  removeItem: customerWork,
  confirm: customerWork,
  pay: customerWork,
  cancel: everyone,
  ship: fulfilment,
  deliver: fulfilment,
  readOrder: everyone,
  readHistory: everyone,
  readSummary: everyone,
  listCustomerOrders: everyone,
  readFulfilment: everyone,
  setStock: fulfilment,
  readStock: anyone,
  /** The live feed of every event: the whole log, every customer's included. */
  readEventFeed: fulfilment,
  /** Operating the pipeline in the web console: its status, dead letters (requeue) and quarantine (retry). */
  operate: adminOnly
} as const satisfies Record<string, Grants>

export type Action = keyof typeof policy

export const actions = Object.keys(policy) as ReadonlyArray<Action>

/** An action allowed to a principal: how far it reaches, and the role that grants it (recorded with the events). */
export interface Grant {
  readonly reach: Reach
  readonly role: Role
}

/** The widest grant any of the principal's roles has for the action; none when no role has one. */
export const grantOf = (principal: Principal, action: Action): Grant | undefined => {
  const grants: Grants = policy[action]
  let best: Grant | undefined
  for (const role of principal.roles) {
    const reach = grants[role]
    if (reach === undefined) continue
    if (best === undefined || (best.reach === "own" && reach === "any")) best = { reach, role }
  }
  return best
}

/** Whether a grant covers the orders of this customer (null: an order that does not exist). */
export const covers = (grant: Grant, principal: Principal, customerId: string | null): boolean =>
  customerId !== null && (grant.reach === "any" || customerId === principal.subject)

/**
 * The answer to a principal asking `action` of an order, or of a customer, that exists:
 * - `forbidden` when no role of theirs may do it at all: decided before anything is looked up, so
 *   it says nothing about the order;
 * - `hidden` when they may, but not on this customer's orders: for a stored order the caller must not
 *   learn exists, answered exactly as a missing one;
 * - `allowed` otherwise.
 */
export type Verdict = "allowed" | "forbidden" | "hidden"

export const verdict = (principal: Principal, action: Action, customerId: string): Verdict => {
  const grant = grantOf(principal, action)
  if (grant === undefined) return "forbidden"
  return covers(grant, principal, customerId) ? "allowed" : "hidden"
}

/** The roles an action is open to, with their reach: for the OpenAPI document and the README. */
export const whoMay = (action: Action): ReadonlyArray<{ readonly role: Role; readonly reach: Reach }> => {
  const grants: Grants = policy[action]
  return roles.flatMap((role) => {
    const reach = grants[role]
    return reach === undefined ? [] : [{ role, reach }]
  })
}
