# flowproxy production image: HAProxy 2.6 from Debian 12 plus flowproxy, which starts and
# supervises it. Build: docker build -t flowproxy .
# BASE may name another Debian 12 image (e.g. a local one where no registry is reachable).
ARG BASE=debian:bookworm-slim
FROM ${BASE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        meson ninja-build pkg-config gcc libc6-dev libcurl4-openssl-dev libcjson-dev \
        libmicrohttpd-dev libpcre2-dev haproxy \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build ./
COPY src src
COPY include include
COPY templates templates
COPY tests tests
COPY bench bench
COPY scripts scripts
RUN meson setup /build --buildtype=release -Dwerror=true && ninja -C /build flowproxy

FROM ${BASE}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        haproxy libcurl4 libcjson1 libmicrohttpd12 libpcre2-8-0 ca-certificates curl tini \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /cfg /certs /var/run/flowproxy
COPY --from=build /build/flowproxy /usr/local/bin/flowproxy
COPY templates /usr/share/flowproxy/templates
# Docker Flow Proxy's place for the error pages: users' own pages mounted there replace them.
COPY haproxy/errorfiles /errorfiles
RUN ln -s /usr/local/bin/flowproxy /usr/local/bin/docker-flow-proxy
# Docker Flow Proxy's image defaults (reference: docker-flow-proxy.md §3).
ENV TEMPLATES_PATH=/usr/share/flowproxy/templates \
    ERRORFILES_PATH=/errorfiles \
    CONFIGS_PATH=/cfg \
    SEPARATOR=, \
    DEFAULT_PORTS=80,443:ssl \
    CONNECTION_MODE=http-keep-alive \
    SERVICE_DOMAIN_ALGO=hdr_beg(host) \
    PROXY_INSTANCE_NAME=docker-flow \
    SERVICE_NAME=proxy
EXPOSE 80 443 8080
HEALTHCHECK --interval=5s --timeout=3s \
    CMD curl -sf http://127.0.0.1:8080/v1/docker-flow-proxy/ping >/dev/null || exit 1
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/usr/local/bin/flowproxy"]
CMD ["server"]
