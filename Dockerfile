# SensorFlow in a slim container: the single executable, run as non-root, nothing else.
# Base images are build args, so a builder with no registry can substitute local ones.
ARG BUN_IMAGE=oven/bun:1.4.5
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${BUN_IMAGE} AS build
# The commit this image is built from (the build context has no .git): `--version` and /metrics name it.
ARG COMMIT=unknown
ENV BUILD_COMMIT=${COMMIT}
WORKDIR /src
COPY package.json bun.lock bunfig.toml tsconfig.json ./
# Exec-form RUN throughout: the build stage needs bun, not a shell.
RUN ["bun", "install", "--frozen-lockfile"]
COPY src ./src
# What `bun run build` runs, called directly so no shell is needed.
RUN ["bun", "run", "src/build.ts", "--outfile", "/out/sensorflow"]
RUN ["bun", "-e", "require('node:fs').mkdirSync('/out/data')"]

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/sensorflow /app/sensorflow
# The data volume starts out owned by the user the server runs as.
COPY --from=build --chown=10001:10001 /out/data /data
ENV HOST=0.0.0.0 PORT=8000 DATA_DIR=/data
WORKDIR /data
USER 10001:10001
EXPOSE 8000
VOLUME ["/data"]
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["/app/sensorflow", "healthcheck"]
ENTRYPOINT ["/app/sensorflow"]
