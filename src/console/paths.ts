/** The console's addresses, under the prefix the request guard leaves to it. */
import { consolePrefix } from "../http/requestGuard.js"

/** A path under the console's prefix, as the router takes it. */
export const at = (path: `/${string}`) => `${consolePrefix}${path}` as `/${string}`

export const paths = {
  home: consolePrefix as `/${string}`,
  signIn: at("/sign-in"),
  devToken: at("/sign-in/dev-token"),
  /** Starts signing in with the identity provider (a POST of the sign-in page). */
  providerStart: at("/sign-in/provider"),
  /** Where the provider sends the browser back (the flow's redirect URI, unless configured). */
  providerCallback: at("/sign-in/callback"),
  /** The prefix of the static files, which no rate limit counts. */
  assets: at("/assets"),
  signOut: at("/sign-out"),
  find: at("/find"),
  customer: (customerId: string): string => at(`/customers/${encodeURIComponent(customerId)}`),
  order: (orderId: string) => at(`/orders/${encodeURIComponent(orderId)}`),
  orderState: (orderId: string) => at(`/orders/${encodeURIComponent(orderId)}/state`),
  live: at("/live"),
  liveStream: at("/live/stream"),
  pipeline: at("/admin"),
  deadLetters: at("/admin/dead-letters"),
  requeue: at("/admin/dead-letters/requeue"),
  quarantine: at("/admin/quarantine"),
  retry: at("/admin/quarantine/retry"),
  css: at("/assets/console.css"),
  htmx: at("/assets/htmx.min.js"),
  script: at("/assets/console.js")
} as const
