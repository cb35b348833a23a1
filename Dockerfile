# syntax=docker/dockerfile:1
# Veza: one image, every role (VEZA_ROLES chooses). See docs/operations.md.

# ---- build: compile TypeScript, then keep only production dependencies ----
FROM node:20-bookworm-slim AS build
# argon2's install script (node-gyp-build) compiles the native addon from
# source when no usable prebuilt binary is found; that needs a toolchain.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY web ./web
# Builds the server (tsc) and the web client (vite, into web/dist).
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime ----
FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
COPY migrations ./migrations
COPY package.json ./
# DATA_DIR must be writable by the unprivileged user (the embedded defaults
# keep their files there; production uses DATABASE_URL instead).
RUN mkdir -p /data && chown node:node /data
USER node
ENV APP_ENV=production PORT=8080 DATA_DIR=/data
EXPOSE 8080
# Production refuses to start without JWT_SECRET (32+ chars),
# CORS_ALLOWED_ORIGINS and DATABASE_URL: pass them at run time.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: readiness off, drain, exit 0.
CMD ["node", "dist/src/main.js"]
