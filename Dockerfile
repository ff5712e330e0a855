# The one application image: web (Daphne) and workers run from it with different commands.

# Browser libraries (Chart.js) come from npm, pinned by package-lock.json.
FROM node:20-slim AS vendor
WORKDIR /src
# swagger-ui-dist depends on @scarf/scarf, whose install script reports downloads home.
ENV SCARF_ANALYTICS=false
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY scripts scripts
RUN mkdir -p web && bash scripts/vendor-static.sh

FROM python:3.11-slim
# Production unless told otherwise: the image refuses to start without a real
# COCARE_SECRET_KEY (given at run time, never baked in; docs/security.md).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 COCARE_PRODUCTION=true
WORKDIR /app
COPY pyproject.toml README.md LICENSE NOTICE ./
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
# --proxy-headers: the client address comes from the proxy's X-Forwarded-For, so per-address
# sign-in limits see clients, not the load balancer. Only the proxy may reach this port.
CMD ["daphne", "--proxy-headers", "-b", "0.0.0.0", "-p", "8000", "cocare_chat.asgi:application"]
