import { AssertionError } from "node:assert"
import { Data, Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { type AggregateDefinition, NotCreated, RuleViolated } from "../../../src/domain/aggregate.js"
import { makeEventCatalog } from "../../../src/domain/events.js"
import { deciderSpec, given } from "../../../src/testing/index.js"

/** A door: installed, then opened and closed; the smallest aggregate with every kind of answer. */
type DoorCommand = Data.TaggedEnum<{
  Install: { readonly at: string }
  Open: {}
  Close: {}
  Knock: {}
  Paint: { readonly colour: string }
}>
const DoorCommand = Data.taggedEnum<DoorCommand>()

const DoorEvent = Schema.Union(
  Schema.TaggedStruct("Installed", { at: Schema.String }),
  Schema.TaggedStruct("Opened", {}),
  Schema.TaggedStruct("Closed", {}),
  Schema.TaggedStruct("Painted", { colour: Schema.String })
)
type DoorEvent = typeof DoorEvent.Type

type DoorState = { readonly status: "none" | "open" | "closed"; readonly refusal: string }

const door: AggregateDefinition<DoorState, DoorCommand, DoorEvent> = {
  streamType: "door",
  initialState: { status: "none", refusal: "" },
  decide: (command, state) => {
    if (command._tag === "Install") {
      return state.status === "none"
        ? Either.right([{ _tag: "Installed", at: command.at }])
        : Either.left(new RuleViolated({ rule: "already-installed", message: "the door is there" }))
    }
    if (state.status === "none") return Either.left(new NotCreated({ message: "no door here" }))
    switch (command._tag) {
      case "Open":
        return state.status === "open"
          ? Either.left(new RuleViolated({ rule: "already-open", message: "the door is open" }))
          : Either.right([{ _tag: "Opened" }])
      case "Close":
        return state.status === "closed"
          ? Either.left(new RuleViolated({ rule: "already-closed", message: "" }))
          : Either.right([{ _tag: "Closed" }])
      case "Knock":
        return Either.right([])
      case "Paint":
        return Either.right([{ _tag: "Painted", colour: command.colour }, { _tag: "Closed" }])
    }
  },
  evolve: (state, event) => {
    switch (event._tag) {
      case "Installed":
      case "Closed":
        return { ...state, status: "closed" }
      case "Opened":
        return { ...state, status: "open" }
      case "Painted":
        return state
    }
  },
  events: makeEventCatalog(DoorEvent, {
    Installed: { schemaVersion: 1 },
    Opened: { schemaVersion: 1 },
    Closed: { schemaVersion: 1 },
    Painted: { schemaVersion: 1 }
  })
}

const installed: DoorEvent = { _tag: "Installed", at: "2026-01-01T00:00:00Z" }
const opened: DoorEvent = { _tag: "Opened" }

/** The AssertionError `spec` throws; fails the test if it throws none. */
const failureOf = (spec: () => void): AssertionError => {
  try {
    spec()
  } catch (error) {
    expect(error).toBeInstanceOf(AssertionError)
    return error as AssertionError
  }
  return expect.fail("the spec passed; it should have failed")
}

describe("decider specifications", () => {
  describe("pass when the decider answers as expected", () => {
    it("then: the events decided, folded from the history", () => {
      given(door, [installed]).when(DoorCommand.Open()).then([{ _tag: "Opened" }])
      given(door, [installed, opened]).when(DoorCommand.Close()).then([{ _tag: "Closed" }])
      given(door, []).when(DoorCommand.Install({ at: "now" })).then([{ _tag: "Installed", at: "now" }])
    })
    it("thenRefuses: the rule broken", () => given(door, [installed, opened]).when(DoorCommand.Open()).thenRefuses("already-open"))
    it("thenNotCreated: nothing there yet", () => given(door, []).when(DoorCommand.Open()).thenNotCreated())
    it("thenNothing: accepted, no events", () => given(door, [installed]).when(DoorCommand.Knock()).thenNothing())
    it("decision: the answer itself, for assertions of one's own", () =>
      expect(given(door, [installed]).when(DoorCommand.Open()).decision).toEqual(Either.right([opened])))
    it("deciderSpec names the definition once", () => {
      const spec = deciderSpec(door)
      spec.given([installed]).when(DoorCommand.Open()).then([opened])
    })
  })

  describe("fail with an AssertionError that says what was given, what was expected and what came", () => {
    it("then, other events: the difference", () => {
      const error = failureOf(() =>
        given(door, [installed]).when(DoorCommand.Paint({ colour: "red" })).then([{ _tag: "Painted", colour: "blue" }])
      )
      expect(error.message).toMatch(/^door: given \[Installed\], when Paint: the decided events are not the expected ones\./)
      expect(error.message).toContain("red")
      expect(error.message).toContain("blue")
      expect(error.actual).toEqual([{ _tag: "Painted", colour: "red" }, { _tag: "Closed" }])
      expect(error.expected).toEqual([{ _tag: "Painted", colour: "blue" }])
    })
    it("then, refused", () => {
      const error = failureOf(() => given(door, [installed, opened]).when(DoorCommand.Open()).then([opened]))
      expect(error.message).toBe(
        `door: given [Installed, Opened], when Open: expected the events [ { _tag: 'Opened' } ], but it was refused for rule "already-open" (the door is open)`
      )
    })
    it("thenRefuses, events decided", () => {
      const error = failureOf(() => given(door, [installed]).when(DoorCommand.Open()).thenRefuses("already-open"))
      expect(error.message).toBe(
        `door: given [Installed], when Open: expected a refusal for rule "already-open", but it decided 1 event: [ { _tag: 'Opened' } ]`
      )
    })
    it("thenRefuses, another rule", () => {
      const error = failureOf(() => given(door, [installed, opened]).when(DoorCommand.Open()).thenRefuses("locked"))
      expect(error.message).toBe(
        `door: given [Installed, Opened], when Open: expected a refusal for rule "locked", but it was refused for rule "already-open" (the door is open)`
      )
      expect([error.actual, error.expected]).toEqual(["already-open", "locked"])
    })
    it("thenRefuses, not created", () => {
      const error = failureOf(() => given(door, []).when(DoorCommand.Open()).thenRefuses("already-open"))
      expect(error.message).toBe(
        `door: given no events, when Open: expected a refusal for rule "already-open", but it was refused as not created (no door here)`
      )
    })
    it("thenRefuses, a refusal without a message", () => {
      const error = failureOf(() => given(door, [installed]).when(DoorCommand.Close()).thenRefuses("already-closed"))
      expect(error.message).toBe(`door: given [Installed], when Close: the refusal for rule "already-closed" has no message`)
    })
    it("thenNotCreated, events decided", () => {
      const error = failureOf(() => given(door, [installed]).when(DoorCommand.Paint({ colour: "red" })).thenNotCreated())
      expect(error.message).toBe(
        `door: given [Installed], when Paint: expected a refusal as not created, but it decided 2 events: [ { _tag: 'Painted', colour: 'red' }, { _tag: 'Closed' } ]`
      )
    })
    it("thenNotCreated, a rule broken", () => {
      const error = failureOf(() => given(door, [installed]).when(DoorCommand.Install({ at: "now" })).thenNotCreated())
      expect(error.message).toBe(
        `door: given [Installed], when Install: expected a refusal as not created, but it was refused for rule "already-installed" (the door is there)`
      )
    })
    it("thenNothing, events decided", () => {
      const error = failureOf(() => given(door, [installed]).when(DoorCommand.Open()).thenNothing())
      expect(error.message).toBe(`door: given [Installed], when Open: expected no events, but it decided 1 event: [ { _tag: 'Opened' } ]`)
    })
    it("thenNothing, refused", () => {
      const error = failureOf(() => given(door, []).when(DoorCommand.Knock()).thenNothing())
      expect(error.message).toBe(`door: given no events, when Knock: expected no events, but it was refused as not created (no door here)`)
    })
    it("then, events of another class than expected: deep strict equality", () => {
      class Opened {
        readonly _tag = "Opened"
      }
      const error = failureOf(() => given(door, [installed]).when(DoorCommand.Open()).then([new Opened()]))
      expect(error.message).toMatch(/the decided events are not the expected ones/)
    })
  })
})
