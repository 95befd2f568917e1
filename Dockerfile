# Dockerfile - the image of the ecom-pipeline C daemons (used by docker-compose.yml).
#
# Stage "builder" compiles the tree with CMake on Debian 12; the runtime stage
# holds only the shared libraries and the executables from build/bin, run as
# an unprivileged user. Configuration comes from the environment (the
# compose file passes .env), never from files baked into the image.

FROM debian:12 AS builder

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        cmake gcc make pkg-config \
        librdkafka-dev libpq-dev libjansson-dev uuid-dev \
        libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev libdeflate-dev zlib1g-dev \
        curl ca-certificates openssl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release \
    && cmake --build build -j \
    && ECOM_WEB_VENDOR=/src/vendor-web scripts/web-vendor.sh


FROM debian:12-slim

RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libpq5 libjansson4 libuuid1 libcurl4 libmicrohttpd12 libdeflate0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ecom

COPY --from=builder /src/build/bin/ /usr/local/bin/
COPY scheduler/dags.conf /etc/ecom-pipeline/dags.conf
COPY monitoring/alerts/rules.conf /etc/ecom-pipeline/rules.conf
COPY monitoring/web/ /usr/share/ecom-pipeline/web/
COPY --from=builder /src/vendor-web/ /usr/share/ecom-pipeline/vendor/
RUN mkdir -p /var/lib/ecom/data && chown ecom /var/lib/ecom/data

USER ecom
WORKDIR /tmp
CMD ["ecom-simulator"]
