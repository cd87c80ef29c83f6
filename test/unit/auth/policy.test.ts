/**
 * The access policy as a table: every action × role, written out here on its own (not read from
 * the policy), so that a change to who may do what shows up as a change to this test.
 */
import { describe, expect, it } from "vitest"
import { FastCheck as fc } from "effect"
import { type Action, actions, grantOf, type Principal, type Role, roles, verdict } from "../../../src/auth/policy.js"

type Expected = "own" | "any" | "-"

const table: Record<Action, Record<Role, Expected>> = {
  //                  customer        staff         admin         service
  placeOrder:         { customer: "own", staff: "-",   admin: "any", service: "any" },
  addItem:            { customer: "own", staff: "-",   admin: "any", service: "any" },
  removeItem:         { customer: "own", staff: "-",   admin: "any", service: "any" },
  confirm:            { customer: "own", staff: "-",   admin: "any", service: "any" },
  pay:                { customer: "own", staff: "-",   admin: "any", service: "any" },
  cancel:             { customer: "own", staff: "any", admin: "any", service: "any" },
  ship:               { customer: "-",   staff: "any", admin: "any", service: "any" },
  deliver:            { customer: "-",   staff: "any", admin: "any", service: "any" },
  readOrder:          { customer: "own", staff: "any", admin: "any", service: "any" },
  readHistory:        { customer: "own", staff: "any", admin: "any", service: "any" },
  readSummary:        { customer: "own", staff: "any", admin: "any", service: "any" },
  listCustomerOrders: { customer: "own", staff: "any", admin: "any", service: "any" },
  readFulfilment:     { customer: "own", staff: "any", admin: "any", service: "any" },
  setStock:           { customer: "-",   staff: "any", admin: "any", service: "any" },
  readStock:          { customer: "any", staff: "any", admin: "any", service: "any" },
  readEventFeed:      { customer: "-",   staff: "any", admin: "any", service: "any" },
  operate:            { customer: "-",   staff: "-",   admin: "any", service: "-" }
}

const me = "0d7e1f0a-93b4-4b55-8d8e-6a0a0e5f3c21"
const someoneElse = "9a1c2b3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"

describe("the access policy", () => {
  it("covers every action, and no other", () => {
    expect([...actions].sort()).toEqual(Object.keys(table).sort())
  })

  for (const action of actions) {
    for (const role of roles) {
      const expected = table[action][role]
      it(`${action} by ${role}: ${expected === "-" ? "forbidden" : `${expected} orders`}`, () => {
        const principal: Principal = { subject: me, roles: [role] }
        const grant = grantOf(principal, action)
        expect(grant === undefined ? "-" : grant.reach).toBe(expected)
        expect(verdict(principal, action, me)).toBe(expected === "-" ? "forbidden" : "allowed")
        expect(verdict(principal, action, someoneElse)).toBe(expected === "-" ? "forbidden" : expected === "own" ? "hidden" : "allowed")
      })
    }
  }

  it("a token without a role of this API may do nothing", () => {
    for (const action of actions) expect(verdict({ subject: me, roles: [] }, action, me)).toBe("forbidden")
  })

  it("with several roles, the widest grant wins, and names the role that gave it", () => {
    const both: Principal = { subject: me, roles: ["customer", "staff"] }
    expect(grantOf(both, "cancel")).toEqual({ reach: "any", role: "staff" })
    expect(grantOf(both, "pay")).toEqual({ reach: "own", role: "customer" })
    expect(grantOf(both, "ship")).toEqual({ reach: "any", role: "staff" })
  })

  it("property: a principal whose only reach is their own never reaches another customer's order", () => {
    fc.assert(
      fc.property(
        fc.uuid(),
        fc.uuid(),
        fc.boolean(),
        fc.subarray([...roles]),
        fc.constantFrom(...actions),
        (principalId, otherId, theirs, held, action) => {
          const ownerId = theirs ? principalId : otherId
          const principal: Principal = { subject: principalId, roles: held }
          const answer = verdict(principal, action, ownerId)
          const reaches = held.map((role) => table[action][role])
          if (!reaches.includes("any") && ownerId !== principalId) expect(answer).not.toBe("allowed")
          if (reaches.every((reach) => reach === "-")) expect(answer).toBe("forbidden")
          if (reaches.includes("any")) expect(answer).toBe("allowed")
        }
      ),
      { numRuns: 2_000 }
    )
  })
})
