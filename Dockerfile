# The flujo CLI in a container, for `docker compose --profile fleet up` (docs/fleet.md).
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY schemas ./schemas
# `npm ci` also builds dist/ (the prepare script). src/web/assets is served by `lens serve`.
RUN npm ci --no-audit --no-fund
COPY examples ./examples
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
