# The service, on SQLite in the volume /srv/data by default; set DATABASE_URL for PostgreSQL
# (compose.yaml). No Docker engine runs where this is developed: .ci/image-steps runs these
# steps, in this order, in a virtual environment, and checks the service it starts.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    LOG_FORMAT=json

# Chromium prints the progress report's PDF (/plans/{id}/report/{year}.pdf), with a Japanese
# font; without them that one route answers 503 and everything else works. Not pinned: the
# base image's Debian release fixes their versions, and its mirrors keep only the latest
# security release of each, so a pinned version would break the build at the next update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-ipafont-gothic \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/app
# The dependencies first, in a layer of their own: a change to the code does not reinstall
# them. They are pyproject.toml's, at the versions constraints.txt pins.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > requirements.txt \
    && python -m pip install -c constraints.txt -r requirements.txt

# Then the service itself, which carries its migrations and seed (setup.py).
COPY setup.py README.md ./
COPY app ./app
COPY migrations ./migrations
COPY seed ./seed
RUN python -m pip install --no-deps .

RUN useradd --create-home --uid 10001 planprogress \
    && mkdir /srv/data \
    && chown planprogress /srv/data
VOLUME ["/srv/data"]
USER 10001
WORKDIR /srv/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ['PORT'], timeout=4)"]
CMD ["python", "-m", "app", "serve"]
