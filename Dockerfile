# The application image, used by every app service of docker-compose.yml with a different command
# (`serve`, `worker`, `push-sink`, `payment-sink`, or any other of the CLI's). Two stages: the
# TypeScript is compiled once in the first; the second runs the JavaScript with production
# dependencies only (no tsx, TypeScript or test tools), as the unprivileged `node` user.

FROM node:24.11-bookworm-slim AS build
WORKDIR /app

# Dependencies first, so source changes do not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# The same compile as `make build`: src/ → dist/, with source maps.
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
RUN node_modules/.bin/tsc -p tsconfig.build.json


FROM node:24.11-bookworm-slim
WORKDIR /app

# Production dependencies only. Some are read as files at run time, not only imported (the web
# console serves htmx.org's dist/htmx.min.js from node_modules), so they are installed whole.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist/ dist/
# Read at start-up: src/database/migrations.ts finds migrations/ two levels above its module,
# i.e. /app/migrations from /app/dist/database/.
COPY migrations/ migrations/
# The one directory the processes write to: .data/auth/ holds the development key pair (AUTH_MODE=dev)
# that `serve` creates at start-up and `token` signs with. Owned by `node`, as is a volume mounted there.
RUN mkdir .data && chown node:node .data

ENV PORT=3000 \
    KAFKAJS_NO_PARTITIONER_WARNING=1
# The API, and `serve`'s ops server (/health, /ready, /metrics).
EXPOSE 3000 9400

USER node
# The CLI; the command names the role (compose gives each service its own).
ENTRYPOINT ["node", "--enable-source-maps", "dist/cli/main.js"]
CMD ["serve"]
