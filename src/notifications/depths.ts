/**
 * What waits for someone, measured by every worker while it is connected: the dead-letter queue's
 * depth (RabbitMQ's own count, on a channel of its own) and the deliveries stuck past their due time
 * (PostgreSQL's). A measurement that fails is skipped; the gauge keeps its last value until the next.
 */
import type amqp from "amqplib"
import { Duration, Effect, Metric, Schedule } from "effect"
import type { Topology } from "../messaging/contracts.js"
import { onFreshChannel } from "../messaging/rabbitTopology.js"
import { DeliveryStore } from "./DeliveryStore.js"
import { deadLetterQueueDepth, stuckDeliveries } from "./metrics.js"

export const measureForever = (connection: amqp.ChannelModel, names: Topology, every: Duration.DurationInput = Duration.seconds(15)) =>
  Effect.gen(function*() {
    const deliveries = yield* DeliveryStore
    const deadLetters = Effect.tryPromise(() => onFreshChannel(connection, (channel) => channel.checkQueue(names.deadLetterQueue))).pipe(
      Effect.flatMap((queue) => Metric.set(deadLetterQueueDepth, queue.messageCount))
    )
    const stuck = Effect.flatMap(deliveries.countStuck, (count) => Metric.set(stuckDeliveries, count))
    const measure = <E>(gauge: Effect.Effect<void, E>) => Effect.ignore(Effect.timeout(gauge, "5 seconds"))
    yield* Effect.all([measure(deadLetters), measure(stuck)], { concurrency: "unbounded", discard: true }).pipe(
      Effect.repeat(Schedule.spaced(every))
    )
  })
