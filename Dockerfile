# koho-gateway: one `gateway serve` process (HTTP API + console + delivery workers) per container.
# Build: docker build -t koho-gateway .    Run several replicas on PostgreSQL: see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user: the gateway needs no root, and a compromise of the process should not own the box.
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid gateway --home-dir /app --shell /usr/sbin/nologin gateway

WORKDIR /app

# Installed as root into the system site-packages (read-only for the gateway user).
# Every dependency ships manylinux wheels, so no compiler is needed in the image.
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN pip install . && rm -rf build ./*.egg-info

# Municipality policies and lexicons: Settings reads config/municipalities relative to /app.
COPY config ./config

# var/ holds the SQLite file (single-container use), the encrypted credentials file and media;
# mount a volume here to keep them. The only directory the gateway user may write.
RUN mkdir -p /app/var && chown gateway:gateway /app/var
VOLUME ["/app/var"]

USER gateway:gateway

ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080
EXPOSE 8080

# python-slim has no curl; urlopen raises (exit 1) on a refused connection or a non-2xx status.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GATEWAY_PORT', '8080') + '/healthz', timeout=2)"]

CMD ["gateway", "serve", "--host", "0.0.0.0"]
