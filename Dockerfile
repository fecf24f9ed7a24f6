# Ferry: one `deno compile` binary in a slim Debian image.
#
#   docker build -t ferry .
#   docker run -p 8787:8787 -e FERRY_ADMIN_TOKEN=... -e DATABASE_URL=postgres://... ferry
#
# Without DATABASE_URL the relay keeps an embedded PostgreSQL (PGlite) in /var/lib/ferry/data:
# mount a volume there. Configuration is by environment (see README.md); FERRY_CONFIG may point
# at a JSON file mounted into the container. `ferryctl` is the operator CLI
# (`docker exec <container> ferryctl queue list`).

# ---- build --------------------------------------------------------------------------------
FROM denoland/deno:2.9.6 AS build
WORKDIR /src
ENV DENO_DIR=/deno-dir
COPY deno.json deno.lock ./
COPY actors/ actors/
COPY lib/ lib/
COPY db/ db/
COPY relay/ relay/
# Fetch the npm packages pinned in deno.lock (fails if the lock and deno.json disagree).
RUN deno install --frozen --entrypoint relay/main.ts relay/cli/main.ts
# prom-client's dependency bintrees ships a 2 MB test fixture (test/perf/100k) on which
# `deno compile` 2.9 overflows its stack; it is never loaded, so it is left out. PGlite's
# .wasm and .data files are part of its npm package and embedded with it.
# The V8 flags are those of `deno task start` (deno.json): the heap grows by 50% over its live
# set before the next full collection (V8's default lets it grow 3-4x), and the young
# generation's semi-spaces are capped at 8 MB. With 1,000,000 queued deliveries the relay's
# peak RSS goes from 450-670 MB to about 230 MB (README, "Many destinations").
RUN deno compile --allow-all --frozen --exclude-unused-npm \
      --v8-flags=--heap-growing-percent=50,--max-semi-space-size=8 \
      --exclude /deno-dir/npm/registry.npmjs.org/bintrees/1.0.2/test \
      --output /out/ferry relay/main.ts \
 && deno compile --allow-net --allow-env --frozen \
      --output /out/ferryctl relay/cli/main.ts

# ---- runtime ------------------------------------------------------------------------------
FROM debian:12-slim
# curl for the health check; CA certificates for STARTTLS to remote MX hosts and webhooks;
# libssl3 for libcrypto.so.3, which makes RSA DKIM signatures (WebCrypto, five times slower per
# signature, is the fallback when it is missing).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ferry \
 && useradd --system --uid 10001 --gid ferry --home-dir /var/lib/ferry --shell /usr/sbin/nologin ferry \
 && mkdir -p /var/lib/ferry/data \
 && chown -R ferry:ferry /var/lib/ferry
COPY --from=build /out/ferry /out/ferryctl /usr/local/bin/

ENV FERRY_ADMIN_LISTEN=0.0.0.0:8787 \
    FERRY_DATA_DIR=/var/lib/ferry/data \
    DENO_NO_UPDATE_CHECK=1
USER ferry:ferry
WORKDIR /var/lib/ferry
VOLUME ["/var/lib/ferry"]
EXPOSE 8787

# Liveness: /livez answers 200 while the process runs (restarting it would not bring a lost
# database back). Readiness, for orchestrators that route traffic (Kubernetes readinessProbe):
# /readyz is 200 only when the database answers and the relay is not draining, 503 otherwise.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${FERRY_ADMIN_LISTEN##*:}/livez" >/dev/null || exit 1

# The relay drains on SIGTERM: in-flight SMTP transactions finish or are handed back.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/ferry"]
