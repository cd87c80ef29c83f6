# The application image (used by the `app` service of docker-compose.yml).
FROM node:20

WORKDIR /app

# Dependencies first, so source changes do not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY . .

ENV PORT=3000 \
    KAFKAJS_NO_PARTITIONER_WARNING=1
EXPOSE 3000

USER node
CMD ["npx", "tsx", "src/cli/main.ts", "serve"]
