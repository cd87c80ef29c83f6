/** Emmett-style decider specs: given(events).when(command).then(events | refusal). */
import { Either } from "effect"
import { assert, expect } from "vitest"
import { type AggregateDefinition, fold } from "../../src/domain/aggregate.js"

export const deciderSpec = <S, C extends { readonly _tag: string }, E extends { readonly _tag: string }>(
  definition: AggregateDefinition<S, C, E>
) => ({
  given: (history: ReadonlyArray<E>) => ({
    when: (command: C) => {
      const decision = definition.decide(command, fold(definition.evolve, definition.initialState, history))
      return {
        then: (expected: ReadonlyArray<E>) => {
          if (Either.isLeft(decision)) assert.fail(`expected events, got ${decision.left._tag}: ${decision.left.message}`)
          expect(decision.right).toEqual(expected)
        },
        thenRefuses: (rule: string) => {
          if (Either.isRight(decision)) assert.fail(`expected refusal ${rule}, got ${JSON.stringify(decision.right)}`)
          expect(decision.left._tag).toBe("RuleViolated")
          expect(decision.left).toMatchObject({ rule })
          expect(decision.left.message.length).toBeGreaterThan(0)
        },
        thenNotCreated: () => {
          if (Either.isRight(decision)) assert.fail(`expected NotCreated, got ${JSON.stringify(decision.right)}`)
          expect(decision.left._tag).toBe("NotCreated")
        }
      }
    }
  })
})
