# alliance-bot: the Telegram bot in one image. Configuration comes from the environment
# (docker run --env-file .env, or env_file in docker-compose.yml); see docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DIALOGUES_DIR=/app/dialogues \
    DATABASE_URL=sqlite:////data/alliance-bot.sqlite3 \
    HEALTH_PORT=8080 \
    WEBHOOK_PORT=8443

WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot/ ./bot/
COPY dialogues/ ./dialogues/

# One layer: install, drop the build leftovers, and create the unprivileged user that owns /data
# (the only place the bot writes). A numeric id so that Kubernetes' runAsNonRoot can check it.
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info \
    && groupadd --system --gid 10001 alliance \
    && useradd --system --uid 10001 --gid alliance --create-home --home-dir /home/alliance \
        --shell /usr/sbin/nologin alliance \
    && mkdir -p /data \
    && chown alliance:alliance /data

VOLUME ["/data"]
USER 10001:10001

# 8080: health endpoint (HEALTH_PORT); 8443: webhook listener (WEBHOOK_PORT), behind an https proxy;
# 8090: the advisors' web view (WEB_PORT, with WEB_ENABLED=1 and WEB_LISTEN=0.0.0.0), behind a proxy too.
EXPOSE 8080 8443 8090

# python:3.11-slim has no curl; urllib fails (exit 1) on a refused connection or any non-2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HEALTH_PORT', '8080') + '/healthz', timeout=4)"]

CMD ["alliance-bot", "run"]
