import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The integration tests share two CPU cores with PostgreSQL, RabbitMQ and Kafka.
    maxWorkers: 2,
    minWorkers: 1,
    env: {
      KAFKAJS_NO_PARTITIONER_WARNING: "1",
      // The run's shared database holds every test's orders: a process manager there would fulfil
      // (reserve stock for, cancel) other tests' orders. Serve processes run none unless a test asks,
      // and a test that does gives it a database of its own.
      PROCESS_MANAGER: "false"
    },
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts", "test/e2e/**/*.test.ts", "test/bench/**/*.test.ts"],
          globalSetup: ["./test/support/globalSetup.ts"]
        }
      },
      {
        // Real faults that take a broker away from everyone: after all the others, one file at a time.
        extends: true,
        test: {
          name: "faults",
          include: ["test/faults/**/*.test.ts"],
          globalSetup: ["./test/support/globalSetup.ts"],
          sequence: { groupOrder: 1 },
          poolOptions: { forks: { singleFork: true } }
        }
      }
    ]
  }
})
