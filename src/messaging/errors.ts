/** Failures of the outbox's brokers, as the relay sees them. */
import { Data } from "effect"

/** The broker could not take or confirm a batch; the relay backs off and sends it again. */
export class BrokerUnavailable extends Data.TaggedError("BrokerUnavailable")<{
  readonly broker: "kafka" | "rabbitmq"
  readonly message: string
  readonly cause?: unknown
}> {}

export const brokerUnavailable = (broker: BrokerUnavailable["broker"], what: string) => (cause: unknown) =>
  new BrokerUnavailable({ broker, message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })

/**
 * The broker refused these records and would refuse them again (a record too large, say): retrying
 * cannot help. The relay finds the record among its batch and parks it in the quarantine.
 */
export class BrokerRejected extends Data.TaggedError("BrokerRejected")<{
  readonly broker: "kafka" | "rabbitmq"
  readonly message: string
}> {}
