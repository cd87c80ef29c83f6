# The application image (used by the `app` service of docker-compose.yml), in two stages: the
# TypeScript is compiled once in the first; the second runs the JavaScript with production
# dependencies only (no tsx, TypeScript or test tools).

FROM node:20 AS build
WORKDIR /app

# Dependencies first, so source changes do not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# The same compile as `make build`: src/ → dist/, with source maps.
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
RUN npx tsc -p tsconfig.build.json


FROM node:20-slim
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist/ dist/
# Read at start-up: src/database/migrations.ts finds migrations/ two levels above its module,
# i.e. /app/migrations from /app/dist/database/.
COPY migrations/ migrations/

ENV PORT=3000 \
    KAFKAJS_NO_PARTITIONER_WARNING=1
EXPOSE 3000

USER node
CMD ["node", "--enable-source-maps", "dist/cli/main.js", "serve"]
