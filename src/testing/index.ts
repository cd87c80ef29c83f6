/**
 * What users of this package import to test their own aggregates and the code around them:
 * decider specifications (given / when / then) and an EventStore in memory.
 *
 *   import { given, InMemoryEventStore, makeInMemoryEventStore } from "event-sourced-actors/testing"
 *
 * `InMemoryEventStore.layer` provides the EventStore service; `makeInMemoryEventStore()` gives the
 * store itself.
 */
export { deciderSpec, type DeciderGiven, type DeciderOutcome, given } from "./decider.js"
export { type InMemoryEventStoreOptions, type InMemoryEventStoreShape, makeInMemoryEventStore } from "./InMemoryEventStore.js"
export * as InMemoryEventStore from "./InMemoryEventStore.js"
