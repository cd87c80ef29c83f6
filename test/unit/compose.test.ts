/**
 * docker-compose.yml and the Dockerfile stay a system that starts: the compose file is valid against
 * the Compose Specification's schema, and what the schema cannot see holds too — every service has a
 * health check and waits only on checks that exist, each app service runs this Dockerfile's image with
 * a command the CLI has, gets only settings the app reads, and reaches the stand-ins where they listen;
 * the image is a supported Node LTS line, built from the compiled output, and does not run as root.
 * With a Docker engine, `docker compose config -q` has the last word as well.
 *
 * test/support/compose-spec.json is schema/compose-spec.json of the GitHub repository
 * compose-spec/compose-spec at commit a08f8d51631b7127ddac3d2c65537db429d0f1d0 (Apache-2.0).
 */
import { describe, expect, it } from "@effect/vitest"
import { Ajv } from "ajv"
import { spawnSync } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import YAML from "yaml"

const root = fileURLToPath(new URL("../..", import.meta.url))
const read = (file: string) => readFileSync(path.join(root, file), "utf8")

// ---------------------------------------------------------------------------------------------
// The compose file, as compose reads it: merge keys (`<<: *app`) resolved.

interface Healthcheck {
  readonly test?: string | ReadonlyArray<string>
  readonly disable?: boolean
}

interface Service {
  readonly image?: string
  readonly build?: string | { readonly context?: string; readonly dockerfile?: string }
  readonly command?: string | ReadonlyArray<string>
  readonly entrypoint?: unknown
  readonly environment?: Readonly<Record<string, string | number | boolean | null>> | ReadonlyArray<string>
  readonly ports?: ReadonlyArray<string | { readonly published?: string | number; readonly host_ip?: string }>
  readonly depends_on?: ReadonlyArray<string> | Readonly<Record<string, { readonly condition?: string; readonly restart?: boolean }>>
  readonly network_mode?: string
  readonly healthcheck?: Healthcheck
  readonly profiles?: ReadonlyArray<string>
}

interface ComposeFile {
  readonly services: Readonly<Record<string, Service>>
}

const composeText = read("docker-compose.yml")
const compose = YAML.parse(composeText, { merge: true }) as ComposeFile
const services = Object.entries(compose.services)
const service = (name: string): Service => {
  const found = compose.services[name]
  if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`)
  return found
}

interface Dependency {
  readonly name: string
  readonly condition: string
  readonly restart: boolean
}

/** depends_on in either form (the short form means service_started, without restart). */
const dependencies = (svc: Service): Array<Dependency> =>
  svc.depends_on === undefined
    ? []
    : Array.isArray(svc.depends_on)
    ? svc.depends_on.map((name: string) => ({ name, condition: "service_started", restart: false }))
    : Object.entries(svc.depends_on as Record<string, { readonly condition?: string; readonly restart?: boolean }>).map(([name, dependency]) => ({
      name,
      condition: dependency.condition ?? "service_started",
      restart: dependency.restart ?? false
    }))

const environment = (svc: Service): Map<string, string | undefined> => {
  const env = svc.environment
  if (env === undefined) return new Map()
  if (Array.isArray(env)) {
    return new Map(env.map((entry: string) => {
      const at = entry.indexOf("=")
      return at === -1 ? [entry, undefined] : [entry.slice(0, at), entry.slice(at + 1)]
    }))
  }
  return new Map(Object.entries(env as Record<string, unknown>).map(([name, value]) => [name, value === null ? undefined : String(value)]))
}

const words = (value: string | ReadonlyArray<string> | undefined): Array<string> =>
  value === undefined ? [] : typeof value === "string" ? value.split(/\s+/).filter((word) => word !== "") : [...value]

/** The value after `--<name>` in a command. */
const option = (command: ReadonlyArray<string>, name: string): string | undefined => {
  const at = command.indexOf(`--${name}`)
  return at === -1 ? undefined : command[at + 1]
}

const buildContext = (svc: Service) => (typeof svc.build === "string" ? svc.build : svc.build?.context)

/** The services that run this repository's image: built from its Dockerfile, or named as that image. */
const appServices = (() => {
  const images = new Set(services.filter(([, svc]) => svc.build !== undefined).map(([, svc]) => svc.image))
  return services.filter(([, svc]) => svc.build !== undefined || images.has(svc.image))
})()

// ---------------------------------------------------------------------------------------------
// What the code says: the CLI's commands and the settings the app reads.

/** The names of the CLI's top-level commands, from `Command.make("actors")`'s subcommands in src/cli/. */
const cliCommands = (): Array<string> => {
  const main = read("src/cli/main.ts")
  const sources = readdirSync(path.join(root, "src/cli")).filter((file) => file.endsWith(".ts")).map((file) => read(`src/cli/${file}`))
  const nameOf = (variable: string): string | undefined => {
    for (const source of sources) {
      const match = new RegExp(`const ${variable} = Command\\.make\\(\\s*"([a-z-]+)"`).exec(source)
      if (match !== null) return match[1]
    }
    return undefined
  }
  const list = /Command\.make\("actors"\)\.pipe\(\s*Command\.withSubcommands\(\[([^\]]*)\]\)/.exec(main)
  if (list === null) throw new Error("src/cli/main.ts: the top-level command's subcommands were not found")
  return list[1]!.split(",").map((variable) => variable.trim()).filter((variable) => variable !== "").map((variable) => {
    const name = nameOf(variable)
    if (name === undefined) throw new Error(`src/cli: no Command.make for ${variable}`)
    return name
  })
}

/**
 * The environment variables the app reads: the names src/config.ts passes to Config, and the rows of
 * README's settings table (which also has those read elsewhere: OTEL_*, LOG_FORMAT).
 */
const settings = (): Set<string> => {
  const names = new Set<string>()
  for (const match of read("src/config.ts").matchAll(/\(\s*"([A-Z][A-Z0-9_]*)"/g)) names.add(match[1]!)
  const readme = read("README.md")
  const table = readme.slice(readme.indexOf("\n## Settings"), readme.indexOf("\n## ", readme.indexOf("\n## Settings") + 1))
  for (const row of table.split("\n").filter((line) => line.startsWith("| `"))) {
    const first = row.split("|")[1] ?? ""
    for (const match of first.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(match[1]!)
  }
  return names
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile, as instructions per stage (comments dropped, continuations joined).

interface Instruction {
  readonly op: string
  readonly args: string
}

interface Stage {
  readonly from: string
  readonly name: string | undefined
  readonly instructions: ReadonlyArray<Instruction>
}

const dockerfileStages = (text: string): Array<Stage> => {
  const lines = text.replace(/\\\r?\n/g, " ").split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"))
  const stages: Array<{ from: string; name: string | undefined; instructions: Array<Instruction> }> = []
  for (const line of lines) {
    const [op = "", ...rest] = line.split(/\s+/)
    const instruction = { op: op.toUpperCase(), args: rest.join(" ") }
    if (instruction.op === "FROM") {
      const [image = "", as, name] = rest.filter((word) => !word.startsWith("--"))
      stages.push({ from: image, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] })
    } else {
      stages.at(-1)?.instructions.push(instruction)
    }
  }
  return stages
}

const stages = dockerfileStages(read("Dockerfile"))
const runtime = stages.at(-1)!

/** An exec-form instruction's words (JSON array), else its shell words. */
const execWords = (args: string): Array<string> => {
  try {
    const parsed: unknown = JSON.parse(args)
    if (Array.isArray(parsed)) return parsed.map(String)
  } catch {
    // the shell form
  }
  return args.split(/\s+/)
}

const majorOf = (image: string): number => {
  const match = /^(?:docker\.io\/)?(?:library\/)?[a-z0-9._-]+:v?(\d+)/.exec(image)
  if (match === null) throw new Error(`${image}: no version in its tag`)
  return Number(match[1])
}

// ---------------------------------------------------------------------------------------------

describe("docker-compose.yml", () => {
  it("is valid against the Compose Specification's schema (draft-07), and `docker compose config` agrees where an engine is", () => {
    const schema = JSON.parse(read("test/support/compose-spec.json")) as Record<string, unknown>
    // The schema names its dialect without the trailing '#' Ajv's draft-07 meta-schema has.
    expect(schema["$schema"]).toMatch(/^https?:\/\/json-schema\.org\/draft-07\/schema#?$/)
    // Ajv's default class is draft-07; the schema itself is checked against that meta-schema. Strict,
    // but for strictTypes: the spec writes union types and leaves "type" out beside object keywords.
    const ajv = new Ajv({ allErrors: true, strictTypes: false })
    const validate = ajv.compile({ ...schema, $schema: "http://json-schema.org/draft-07/schema#" })

    const valid = validate(compose)
    expect(validate.errors ?? [], ajv.errorsText(validate.errors, { separator: "\n" })).toEqual([])
    expect(valid).toBe(true)
    // The validator does refuse: a misspelt key and a health check that is not one.
    expect(validate({ services: { app: { image: "x", helthcheck: {} } } })).toBe(false)
    expect(validate({ services: { app: { image: "x", healthcheck: { test: 42 } } } })).toBe(false)

    // With a Docker engine, compose itself reads the file (interpolation, merge keys, references).
    if (spawnSync("docker", ["info"], { stdio: "ignore", timeout: 20_000 }).status === 0) {
      const config = spawnSync("docker", ["compose", "-f", "docker-compose.yml", "config", "-q"], {
        cwd: root,
        encoding: "utf8",
        timeout: 60_000
      })
      expect(config.status, config.stderr).toBe(0)
    }
  })

  it("gives every service a health check, and waits only on services there are, healthy only where they check", () => {
    expect(services.length).toBeGreaterThan(0)
    for (const [name, svc] of services) {
      const test = words(svc.healthcheck?.test)
      expect(svc.healthcheck?.disable ?? false, `${name}: healthcheck disabled`).toBe(false)
      expect(test.length, `${name}: no healthcheck`).toBeGreaterThan(0)
      expect(test[0], `${name}: healthcheck test`).not.toBe("NONE")
      for (const dependency of dependencies(svc)) {
        expect(Object.keys(compose.services), `${name} depends on ${dependency.name}`).toContain(dependency.name)
        if (dependency.condition === "service_healthy") {
          expect(compose.services[dependency.name]?.healthcheck, `${name} waits for ${dependency.name} to be healthy`).toBeDefined()
        }
      }
      if (svc.network_mode?.startsWith("service:")) {
        const owner = svc.network_mode.slice("service:".length)
        expect(Object.keys(compose.services), `${name}: network_mode ${svc.network_mode}`).toContain(owner)
        // A recreated container has a new namespace: compose must restart this one with it.
        const onOwner = dependencies(svc).find((dependency) => dependency.name === owner)
        expect(onOwner?.restart, `${name} depends on ${owner}, whose namespace it runs in, with restart: true`).toBe(true)
        expect(svc.ports ?? [], `${name}: a service in another's network namespace publishes no ports`).toEqual([])
      }
    }
  })

  it("runs the whole system: every app service on this Dockerfile's image, with a command the CLI has", () => {
    const commands = cliCommands()
    expect(commands).toEqual(expect.arrayContaining(["serve", "worker", "push-sink", "payment-sink", "migrate"]))
    const images = new Set(appServices.map(([, svc]) => svc.image))
    expect(images.size, "one image for every app service").toBe(1)
    const run: Array<string> = []
    for (const [name, svc] of appServices) {
      expect(buildContext(svc), `${name}: build context`).toBe(".")
      if (typeof svc.build === "object") expect(svc.build.dockerfile ?? "Dockerfile", `${name}: dockerfile`).toBe("Dockerfile")
      expect(svc.entrypoint, `${name}: the image's entrypoint (node --enable-source-maps dist/cli/main.js) is kept`).toBeUndefined()
      const command = words(svc.command)
      expect(commands, `${name}: command ${JSON.stringify(command)}`).toContain(command[0])
      expect(svc.profiles, `${name} starts without a profile`).toBeUndefined()
      run.push(command[0]!)
    }
    expect(run.sort()).toEqual(["payment-sink", "push-sink", "serve", "worker"])
  })

  it("gives the app services only settings the app reads, and points them at the stand-ins where those listen", () => {
    const known = settings()
    expect([...known]).toEqual(expect.arrayContaining(["DATABASE_URL", "AMQP_URL", "KAFKA_BROKERS", "PUSH_GATEWAY_URL", "PAYMENT_PROVIDER_URL"]))
    for (const [name, svc] of appServices) {
      const unknown = [...environment(svc).keys()].filter((variable) => !known.has(variable))
      expect(unknown, `${name}: environment variables the app does not read`).toEqual([])
    }

    const byCommand = (command: string) => {
      const found = appServices.find(([, svc]) => words(svc.command)[0] === command)
      if (found === undefined) throw new Error(`no app service runs ${command}`)
      return found
    }
    /** `url` reaches the stand-in running `sinkCommand`, from the service `caller`. */
    const expectReaches = ([caller, callerService]: readonly [string, Service], url: string | undefined, sinkCommand: string) => {
      expect(url, `${caller}: the stand-in's URL`).toBeDefined()
      const target = new URL(url!)
      const [sinkName, sink] = byCommand(sinkCommand)
      expect(target.port, `${caller} → ${sinkName}: port`).toBe(option(words(sink.command), "port"))
      // By its name on the compose network: it listens on every interface of its own container.
      expect(target.hostname, `${caller} → ${sinkName}: host`).toBe(sinkName)
      expect(option(words(sink.command), "host"), `${sinkName} listens beyond its loopback`).toBe("0.0.0.0")
      const dependency = dependencies(callerService).find((candidate) => candidate.name === sinkName)
      expect(dependency?.condition, `${caller} starts once ${sinkName} is healthy`).toBe("service_healthy")
    }
    const worker = byCommand("worker")
    expectReaches(worker, environment(worker[1]).get("PUSH_GATEWAY_URL"), "push-sink")
    const serve = byCommand("serve")
    expectReaches(serve, environment(serve[1]).get("PAYMENT_PROVIDER_URL"), "payment-sink")
  })

  it("checks each app process on the port it serves, with node's fetch (the slim image has no curl)", () => {
    const servedPorts = (svc: Service): Array<string | undefined> => {
      const command = words(svc.command)
      const env = environment(svc)
      switch (command[0]) {
        case "serve":
          return [env.get("PORT"), env.get("OPS_PORT")]
        case "worker":
          return [env.get("WORKER_PORT")]
        default:
          return [option(command, "port")]
      }
    }
    for (const [name, svc] of appServices) {
      const test = words(svc.healthcheck?.test)
      expect(test.slice(0, 3), `${name}: healthcheck`).toEqual(["CMD", "node", "-e"])
      const target = /fetch\('http:\/\/127\.0\.0\.1:(\d+)\/(health|ready)'\)/.exec(test[3] ?? "")
      expect(target, `${name}: the healthcheck fetches /health or /ready on loopback`).not.toBeNull()
      expect(test[3], `${name}: a failed fetch or a non-2xx answer is unhealthy`).toMatch(/process\.exit\(r\.ok \? 0 : 1\), \(\) => process\.exit\(1\)/)
      expect(servedPorts(svc).filter((port) => port !== undefined), `${name}: the port its healthcheck asks`).toContain(target![1])
    }
  })

  it("keeps the services scripts/services.sh starts, on the ports it probes, and publishes on loopback only", () => {
    const published = (name: string) =>
      (service(name).ports ?? []).map((port) => (typeof port === "string" ? port : `${port.host_ip ?? ""}:${port.published ?? ""}`))
    expect(published("postgres")).toContain("127.0.0.1:5432:5432")
    expect(published("rabbitmq")).toEqual(expect.arrayContaining(["127.0.0.1:5672:5672", "127.0.0.1:15672:15672"]))
    expect(published("kafka")).toContain("127.0.0.1:9092:9092")
    for (const [name] of services) {
      for (const port of published(name)) expect(port, `${name}: published port`).toMatch(/^127\.0\.0\.1:/)
    }
    expect(majorOf(service("rabbitmq").image ?? ""), "RabbitMQ's major").toBe(4)
    for (const name of ["jaeger", "prometheus", "grafana"]) expect(service(name).profiles).toEqual(["observability"])
  })

  it("is where Prometheus scrapes: its targets are services serving their ops port on all interfaces", () => {
    const prometheus = YAML.parse(read("ops/prometheus/prometheus.yml")) as {
      readonly scrape_configs: ReadonlyArray<{ readonly static_configs?: ReadonlyArray<{ readonly targets: ReadonlyArray<string> }> }>
    }
    const targets = prometheus.scrape_configs.flatMap((job) => job.static_configs ?? []).flatMap((config) => config.targets)
    expect(targets.length).toBeGreaterThan(0)
    // Each role's ops port has its own setting (src/config.ts); the worker's is WORKER_PORT.
    const portSetting: Record<string, string> = { serve: "OPS_PORT", worker: "WORKER_PORT" }
    for (const target of targets) {
      const [host = "", port] = target.split(":")
      const svc = service(host)
      const setting = portSetting[words(svc.command)[0] ?? ""]
      expect(setting, `${target}: a role with an ops port`).toBeDefined()
      const env = environment(svc)
      expect(env.get(setting!), `${target}: ${setting}`).toBe(port)
      expect(env.get("OPS_HOST"), `${target}: OPS_HOST`).toBe("0.0.0.0")
    }
    expect(targets).toEqual(expect.arrayContaining(["app:9400", "worker:3001"]))
  })
})

describe("Dockerfile", () => {
  it("runs a supported Node LTS line (an even major, 20 or newer) no older than package.json's engines", () => {
    const engines = (JSON.parse(read("package.json")) as { readonly engines: { readonly node: string } }).engines.node
    const minimum = Number(/(\d+)/.exec(engines)?.[1])
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const stage of stages) {
      expect(stage.from, "a Node image").toMatch(/^node:/)
      const major = majorOf(stage.from)
      expect(major % 2, `${stage.from}: an LTS line has an even major`).toBe(0)
      expect(major).toBeGreaterThanOrEqual(20)
      expect(major).toBeGreaterThanOrEqual(minimum)
    }
    expect(runtime.from, "the runtime is the slim Debian image").toMatch(/-bookworm-slim$/)
  })

  it("builds from the compiled output: compiles in one stage, runs dist/ and migrations/ with production dependencies, as `node`", () => {
    const build = stages.find((stage) => stage.name !== undefined && stage !== runtime)!
    expect(build, "a named build stage").toBeDefined()
    const runs = (stage: Stage) => stage.instructions.filter((instruction) => instruction.op === "RUN").map((instruction) => instruction.args)
    expect(runs(build).join("\n")).toMatch(/npm ci\b/)
    expect(runs(build).join("\n")).toContain("node_modules/.bin/tsc -p tsconfig.build.json")

    expect(runs(runtime).join("\n")).toMatch(/npm ci --omit=dev\b/)
    const copies = runtime.instructions.filter((instruction) => instruction.op === "COPY").map((instruction) => instruction.args)
    expect(copies, "dist/ from the build stage").toContainEqual(expect.stringMatching(new RegExp(`^--from=${build.name} \\S*/dist/? dist/?$`)))
    expect(copies, "migrations/").toContainEqual(expect.stringMatching(/^migrations\/? migrations\/?$/))

    const user = runtime.instructions.filter((instruction) => instruction.op === "USER").at(-1)?.args
    expect(user, "the runtime stage names its user").toBeDefined()
    expect(user!.split(":")[0]).not.toMatch(/^(root|0)$/)

    const entrypoint = execWords(runtime.instructions.find((instruction) => instruction.op === "ENTRYPOINT")?.args ?? "")
    expect(entrypoint).toEqual(["node", "--enable-source-maps", "dist/cli/main.js"])
    expect(cliCommands()).toContain(execWords(runtime.instructions.find((instruction) => instruction.op === "CMD")?.args ?? "")[0])
  })

  it("is given what it copies: .dockerignore leaves out none of it", () => {
    const ignored = read(".dockerignore").split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"))
    const matches = (pattern: string, name: string) =>
      new RegExp(`^${pattern.replace(/\/$/, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")}$`).test(name)
    const sources = stages.flatMap((stage) =>
      stage.instructions
        .filter((instruction) => instruction.op === "COPY" && !instruction.args.startsWith("--from"))
        .flatMap((instruction) => instruction.args.split(/\s+/).slice(0, -1))
    )
    expect(sources).toEqual(expect.arrayContaining(["package-lock.json", "src/", "migrations/"]))
    for (const source of sources) {
      const top = source.replace(/\/$/, "").split("/")[0]!
      expect(ignored.filter((pattern) => matches(pattern, top)), `${source} is ignored`).toEqual([])
    }
  })
})
