/**
 * What a console request counts against. The API's anonymous limit leaves the console's paths alone
 * (src/http/authenticate.ts), because most console requests carry a session cookie, not an
 * Authorization header: counted by address, every member of staff behind one address would share a
 * bucket. So the console counts them itself: a request with a valid session against its principal,
 * as the API counts a bearer token; one without (sign-in pages, a bad or expired cookie, sign-in
 * attempts) against the caller's address; its static files against nothing. Pure.
 */
import { paths } from "./paths.js"

export type ConsoleCharge =
  | { readonly bucket: "none" }
  | { readonly bucket: "principal"; readonly subject: string }
  | { readonly bucket: "address" }

/** Whether a path (without its query) is one of the console's static files. */
export const isAsset = (path: string): boolean => path.startsWith(`${paths.assets}/`)

/** The bucket a console request takes a token from; `subject` is its valid session's, if any. */
export const chargeOf = (path: string, subject: string | undefined): ConsoleCharge =>
  isAsset(path) ? { bucket: "none" } : subject === undefined ? { bucket: "address" } : { bucket: "principal", subject }
