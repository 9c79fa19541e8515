# logfleet worker image: Debian 12, the same libraries the build uses.
# Not built in this repository's CI (no Docker engine there); the build
# steps are the same as `make` on a Debian 12 host.
FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config libpq-dev libcurl4-openssl-dev libjansson-dev zlib1g-dev \
        libconfig-dev librdkafka-dev libisal-dev libmicrohttpd-dev libprotobuf-c-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" bin/logfleetd bin/logfleetctl

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpq5 libcurl4 libjansson4 zlib1g libconfig9 librdkafka1 libisal2 libmicrohttpd12 \
        libprotobuf-c1 ca-certificates python3 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/bin/logfleetd /src/bin/logfleetctl /usr/local/bin/
USER nobody
# SIGTERM: flush, upload, checkpoint, release leases, exit 0 within shutdown.grace_ms
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/logfleetd"]
CMD ["-c", "/etc/logfleet/logfleet.conf"]
