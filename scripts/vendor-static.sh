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
# axe-core: the accessibility checker the browser tests inject (tests/web/browser.py).
if [ -f node_modules/axe-core/axe.min.js ]; then
  mkdir -p "$VENDOR/axe-core"
  cp node_modules/axe-core/axe.min.js "$VENDOR/axe-core/axe.min.js"
  cp node_modules/axe-core/LICENSE "$VENDOR/axe-core/LICENSE" 2>/dev/null || true
fi
