#!/usr/bin/env bash
# Copy the browser files we serve from node_modules/ into web/vendor/ (git-ignored, and
# always in STATICFILES_DIRS). Run by ./dev after `npm install`; safe to run again.
# Nothing is fetched here: node_modules/ comes from package-lock.json via npm.
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR=web/vendor
mkdir -p "$VENDOR/chartjs"
if [ ! -f node_modules/chart.js/dist/chart.umd.min.js ]; then
  echo "vendor-static: node_modules/chart.js missing; run 'npm install' (./dev setup does)" >&2
  exit 1
fi
cp node_modules/chart.js/dist/chart.umd.min.js "$VENDOR/chartjs/chart.umd.min.js"
cp node_modules/chart.js/LICENSE.md "$VENDOR/chartjs/LICENSE.md"
node -e 'process.stdout.write(require("./node_modules/chart.js/package.json").version)' \
  > "$VENDOR/chartjs/VERSION"

# Swagger UI for the API docs page (/api/docs, web/apidocs.py): served from here, no CDN.
if [ ! -f node_modules/swagger-ui-dist/swagger-ui-bundle.js ]; then
  echo "vendor-static: node_modules/swagger-ui-dist missing; run 'npm install' (./dev setup does)" >&2
  exit 1
fi
mkdir -p "$VENDOR/swagger-ui"
for f in swagger-ui-bundle.js swagger-ui.css LICENSE NOTICE; do
  cp "node_modules/swagger-ui-dist/$f" "$VENDOR/swagger-ui/$f"
done
node -e 'process.stdout.write(require("./node_modules/swagger-ui-dist/package.json").version)' \
  > "$VENDOR/swagger-ui/VERSION"
