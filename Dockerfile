# syntax=docker/dockerfile:1
# One image for every job of the pipeline: the entry point is the `kucoin-kafka` CLI, the command picks the job.
#   docker build -t kucoin-kafka .
#   docker run --rm kucoin-kafka --help
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=... -e SCHEMA_REGISTRY_URL=... kucoin-kafka process ticker-bars
# Dependencies are installed with ops/constraints.txt, so the image has exactly the versions CI tests.
# To pin the base image by digest, pass --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest>.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- builder: a virtualenv with the pinned dependencies and the project, built from wheels ----
FROM ${PYTHON_IMAGE} AS builder
ARG TARGETARCH
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# amd64 installs from wheels only; other architectures build faust-streaming from its sdist and need a compiler.
RUN if [[ "${TARGETARCH:-amd64}" != "amd64" ]]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends build-essential=12.9 \
        && rm -rf /var/lib/apt/lists/*; \
    fi
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first (their own layer, rebuilt only when pyproject.toml or the constraints change).
COPY pyproject.toml README.md ./
COPY ops/constraints.txt ops/constraints.txt
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['parquet']))" \
        > /tmp/requirements.txt \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt -c ops/constraints.txt
COPY producers producers
COPY processors processors
COPY schemas schemas
COPY ops ops
RUN /opt/venv/bin/pip install --no-deps -c ops/constraints.txt . \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/kucoin-kafka --help > /dev/null

# ---- runtime: slim Python, the virtualenv, a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="kucoin-kafka" \
      org.opencontainers.image.description="KuCoin Futures market data into Apache Kafka as Avro; Faust processors" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KUCOIN_KAFKA_HOME=/var/lib/kucoin-kafka
# Volume mount points exist in the image, owned by the user, so a new named volume starts with that owner.
RUN groupadd --system --gid 10001 kucoin \
    && useradd --system --uid 10001 --gid kucoin --home-dir /var/lib/kucoin-kafka --create-home \
        --shell /usr/sbin/nologin kucoin \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/kucoin-kafka/spill
COPY --from=builder /opt/venv /opt/venv
# The producer's spill (KUCOIN_KAFKA_HOME/spill) and Faust's data directories (KUCOIN_KAFKA_HOME/processors) live here:
# mount a volume on it for the producer and backfill jobs.
WORKDIR /var/lib/kucoin-kafka
USER 10001:10001
# Prometheus /metrics of each job (also its health endpoint): produce 9101, backfill 9102, ticker-bars 9401,
# kline-bars 9402, imbalance 9403; the fake exchange serves REST + WebSocket on 8089.
EXPOSE 9101 9102 9401 9402 9403 8089
# Every job traps SIGTERM and stops cleanly (the producer flushes, processors commit); give it the time it needs
# (docker compose: stop_grace_period; Kubernetes: terminationGracePeriodSeconds >= 45 s).
STOPSIGNAL SIGTERM
# No HEALTHCHECK here: the port depends on the job. Each job's /metrics answers 200 while it runs; docker-compose.yml
# checks it per service with
#   python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:<port>/metrics', timeout=4)"
ENTRYPOINT ["kucoin-kafka"]
CMD ["--help"]
