# The one application image: web (Daphne) and workers run from it with different commands.

# Browser libraries (Chart.js) come from npm, pinned by package-lock.json.
FROM node:20-slim AS vendor
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts scripts
RUN mkdir -p web && bash scripts/vendor-static.sh

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cocare_chat cocare_chat
COPY rooms rooms
COPY bots bots
COPY escalation escalation
COPY careplan careplan
COPY sensors sensors
COPY bridge bridge
COPY web web
COPY --from=vendor /src/web/vendor web/vendor
COPY manage.py ./
RUN pip install --no-cache-dir . && useradd --system cocare
USER cocare
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "cocare_chat.asgi:application"]
