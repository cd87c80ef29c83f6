/**
 * What the load generator sends, per workload: a cycle of requests that each connection sends in
 * turn, one at a time. The first request of a cycle picks what the cycle works on (an order, a SKU of
 * its own); the rest follow from it. The same cycles go to the service and to its floor.
 */
export const workloads = ["place", "spread", "hot", "get", "health", "mix"] as const
export type Workload = (typeof workloads)[number]

export interface Targets {
  /** The customer whose token the requests carry: the orders placed are theirs. */
  readonly customer: string
  /** Orders that commands are spread over (`spread`, `mix`). */
  readonly orders: ReadonlyArray<string>
  /** The order every connection works on in `hot`, and the one `get` reads. */
  readonly hot: string
}

export interface Request {
  readonly method: "GET" | "POST" | "DELETE"
  readonly path: string
  readonly body?: string
}

/** What one cycle works on: chosen by its first request. */
export interface Cycle {
  order: string
  sku: string
}

export type Step = (cycle: Cycle) => Request

const add: Step = ({ order, sku }) => ({
  method: "POST",
  path: `/orders/${order}/items`,
  body: JSON.stringify({ sku, quantity: 1, unitPriceCents: 250 })
})
const remove: Step = ({ order, sku }) => ({ method: "DELETE", path: `/orders/${order}/items/${sku}` })
const read: Step = ({ order }) => ({ method: "GET", path: `/orders/${order}` })

/** A customer places orders for themselves only: the body names the token's subject. */
export const placeBody = (customerId: string) =>
  JSON.stringify({
    customerId,
    currency: "EUR",
    lines: [{ sku: "sku-1", quantity: 2, unitPriceCents: 1250 }, { sku: "sku-2", quantity: 1, unitPriceCents: 399 }]
  })

/**
 * The steps of one cycle, and how a cycle picks its order: commands add an item of a SKU no other
 * cycle uses and remove it again, so every command is accepted however the connections interleave.
 * `spread` and `mix` take the orders in turn, so that every order is hit as often.
 */
export const cycleOf = (workload: Workload, targets: Targets): {
  readonly pick: (cycleNumber: number) => string
  readonly steps: ReadonlyArray<Step>
} => {
  const inTurn = (n: number) => targets.orders[n % targets.orders.length]!
  const hot = () => targets.hot
  switch (workload) {
    case "place":
      return { pick: hot, steps: [() => ({ method: "POST", path: "/orders", body: placeBody(targets.customer) })] }
    case "spread":
      return { pick: inTurn, steps: [add, remove] }
    case "hot":
      return { pick: hot, steps: [add, remove] }
    case "get":
      return { pick: hot, steps: [read] }
    case "health":
      return { pick: hot, steps: [() => ({ method: "GET", path: "/health" })] }
    case "mix":
      // Four reads to each command: 80% reads.
      return { pick: inTurn, steps: [read, read, read, read, add, read, read, read, read, remove] }
  }
}
