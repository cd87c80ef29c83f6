/**
 * What each console page needs of the access policy (src/auth/policy.ts): the console grants exactly
 * what the API grants the same token. README's table of the console is rendered from this.
 */
import type { Action } from "../auth/policy.js"

/** Each console page, with the action of the access policy it needs: the README's table of the console is this. */
export const consoleAccess: ReadonlyArray<{ readonly page: string; readonly actions: ReadonlyArray<Action> }> = [
  { page: "GET /console/orders/{orderId}: current state", actions: ["readOrder"] },
  { page: "GET /console/orders/{orderId}: timeline, state at a version, notifications", actions: ["readOrder", "readHistory"] },
  { page: "GET /console/orders/{orderId}: fulfilment", actions: ["readOrder", "readFulfilment"] },
  { page: "GET /console/customers/{customerId}", actions: ["listCustomerOrders"] },
  { page: "GET /console/admin, /console/admin/dead-letters, /console/admin/quarantine (and their POSTs)", actions: ["operate"] }
]
