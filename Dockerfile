# The service on SQLite by default; set DATABASE_URL for PostgreSQL.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000

WORKDIR /srv/app
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
COPY migrations ./migrations
COPY seed ./seed
COPY alembic.ini ./
RUN pip install -c constraints.txt . \
    && useradd --create-home --uid 10001 planprogress \
    && mkdir /srv/data \
    && chown planprogress /srv/data

USER 10001
WORKDIR /srv/data
EXPOSE 8000
CMD ["python", "-m", "app", "serve"]
