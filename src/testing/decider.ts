/**
 * Decider specifications for any aggregate definition, in the manner of Emmett's
 * DeciderSpecification: given the events of its history, when a command, then these events — or
 * this refusal, or "not created", or nothing at all.
 *
 *   given(orderAggregate, [placed]).when(confirm).then([confirmed])
 *   given(orderAggregate, [placed, cancelled]).when(confirm).thenRefuses("order-cancelled")
 *
 * Framework-neutral: a failed expectation throws node:assert's AssertionError, which every test
 * runner reports (with a diff where it shows one). Events are compared with
 * `assert.deepStrictEqual`: values, types and prototypes must match, so expect plain objects where
 * `decide` makes plain objects, and instances where it makes instances.
 */
import { AssertionError, deepStrictEqual } from "node:assert"
import { inspect } from "node:util"
import { Either } from "effect"
import { type AggregateDefinition, type DomainError, fold } from "../domain/aggregate.js"

export interface DeciderOutcome<Event> {
  /** What `decide` answered: the events, or the refusal (for assertions of your own). */
  readonly decision: Either.Either<ReadonlyArray<Event>, DomainError>
  /** The command was accepted and decided exactly these events, in this order. */
  readonly then: (expected: ReadonlyArray<Event>) => void
  /** The command was refused for this business rule (a RuleViolated with this `rule` and a message). */
  readonly thenRefuses: (rule: string) => void
  /** The command was refused because the aggregate does not exist yet (NotCreated). */
  readonly thenNotCreated: () => void
  /** The command was accepted and changed nothing: no events. */
  readonly thenNothing: () => void
}

export interface DeciderGiven<Command, Event> {
  readonly when: (command: Command) => DeciderOutcome<Event>
}

const show = (value: unknown) => inspect(value, { depth: 8, breakLength: Number.POSITIVE_INFINITY, compact: true })

const tags = (events: ReadonlyArray<{ readonly _tag: string }>) => events.map((event) => event._tag).join(", ")

const describeRefusal = (error: DomainError) =>
  error._tag === "RuleViolated"
    ? `refused for rule "${error.rule}" (${error.message})`
    : `refused as not created (${error.message})`

const describeEvents = (events: ReadonlyArray<unknown>) =>
  events.length === 0 ? "decided no events" : `decided ${events.length === 1 ? "1 event" : `${events.length} events`}: ${show(events)}`

/**
 * The aggregate `definition` after `history` (folded from its initial state, as the runtime folds
 * it): `.when(command)` decides the command on that state.
 */
export const given = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>,
  history: ReadonlyArray<NoInfer<Event>>
): DeciderGiven<Command, Event> => ({
  when: (command) => {
    const decision = definition.decide(command, fold(definition.evolve, definition.initialState, history))
    const context = `${definition.streamType}: given ${history.length === 0 ? "no events" : `[${tags(history)}]`}, when ${command._tag}`
    const fail = (message: string, actual: unknown, expected: unknown): never => {
      // Operator "fail": the message as written (with another operator, Node appends a diff of its own).
      throw new AssertionError({ message: `${context}: ${message}`, actual, expected, operator: "fail" })
    }
    /** The decided events; a refusal fails the expectation, described as `expected`. */
    const accepted = (expected: string, expectedValue: unknown): ReadonlyArray<Event> =>
      Either.isLeft(decision)
        ? fail(`expected ${expected}, but it was ${describeRefusal(decision.left)}`, decision.left, expectedValue)
        : decision.right

    return {
      decision,
      then: (expected) => {
        const actual = accepted(expected.length === 0 ? "no events" : `the events ${show(expected)}`, expected)
        try {
          deepStrictEqual(actual, expected)
        } catch (error) {
          if (!(error instanceof AssertionError)) throw error
          fail(`the decided events are not the expected ones.\n${error.message}`, actual, expected)
        }
      },
      thenRefuses: (rule) => {
        const expected = `a refusal for rule "${rule}"`
        if (Either.isRight(decision)) return fail(`expected ${expected}, but it ${describeEvents(decision.right)}`, decision.right, rule)
        const error = decision.left
        if (error._tag !== "RuleViolated") return fail(`expected ${expected}, but it was ${describeRefusal(error)}`, error._tag, "RuleViolated")
        if (error.rule !== rule) return fail(`expected ${expected}, but it was ${describeRefusal(error)}`, error.rule, rule)
        if (error.message.length === 0) return fail(`the refusal for rule "${rule}" has no message`, error.message, "a message")
      },
      thenNotCreated: () => {
        const expected = "a refusal as not created"
        if (Either.isRight(decision)) return fail(`expected ${expected}, but it ${describeEvents(decision.right)}`, decision.right, "NotCreated")
        if (decision.left._tag !== "NotCreated") {
          return fail(`expected ${expected}, but it was ${describeRefusal(decision.left)}`, decision.left._tag, "NotCreated")
        }
      },
      thenNothing: () => {
        const actual = accepted("no events", [])
        if (actual.length > 0) fail(`expected no events, but it ${describeEvents(actual)}`, actual, [])
      }
    }
  }
})

/** `given` with the definition named once: `const spec = deciderSpec(orderAggregate); spec.given([placed]).when(…)…`. */
export const deciderSpec = <State, Command extends { readonly _tag: string }, Event extends { readonly _tag: string }>(
  definition: AggregateDefinition<State, Command, Event>
) => ({
  given: (history: ReadonlyArray<Event>): DeciderGiven<Command, Event> => given(definition, history)
})
