# The racing-scheduler app image: the `racing` command, the flows, the migrations and
# Prefect itself. docker-compose.yml runs every service from it except the databases,
# Prometheus and Grafana.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RACING_HOME=/app

WORKDIR /app

# Installed editable: the migrations and scenarios are found beside the packages, and
# prefect.yaml's entrypoints are paths under RACING_HOME.
COPY pyproject.toml README.md alembic.ini prefect.yaml ./
COPY racing ./racing
COPY flows ./flows
COPY migrations ./migrations
COPY scenarios ./scenarios
RUN pip install -e . \
    && useradd --create-home --uid 10001 racing \
    && chown -R racing /app

USER racing

CMD ["racing", "--help"]
