# Build the single executable with the official Bun image, run it on a slim base as non-root.
# Base images are build args so an offline builder can substitute local ones.
ARG BUN_IMAGE=oven/bun:1.4.5
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUN_IMAGE} AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml tsconfig.json ./
RUN bun install --frozen-lockfile
COPY src ./src
RUN bun run build

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/dist/sensorflow /app/sensorflow
WORKDIR /data
ENV HOST=0.0.0.0 PORT=8000 DATA_DIR=/data
USER 10001
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/app/sensorflow", "healthcheck"]
ENTRYPOINT ["/app/sensorflow"]
