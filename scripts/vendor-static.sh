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

# Firebase JS SDK (push registration on the phone): the browser ES-module builds, with
# their CDN import of firebase-app.js rewritten to our own copy, so nothing is loaded from
# gstatic.com.
if [ ! -f node_modules/firebase/firebase-messaging.js ]; then
  echo "vendor-static: node_modules/firebase missing; run 'npm install' (./dev setup does)" >&2
  exit 1
fi
mkdir -p "$VENDOR/firebase"
for f in firebase-app.js firebase-messaging.js; do
  sed -E 's#https://www\.gstatic\.com/firebasejs/[0-9.]+/firebase-app\.js#./firebase-app.js#g' \
    "node_modules/firebase/$f" > "$VENDOR/firebase/$f"
done
cp node_modules/firebase/LICENSE "$VENDOR/firebase/LICENSE" 2>/dev/null || true
node -e 'process.stdout.write(require("./node_modules/firebase/package.json").version)' \
  > "$VENDOR/firebase/VERSION"
if grep -q 'gstatic.com' "$VENDOR/firebase/firebase-messaging.js" "$VENDOR/firebase/firebase-app.js"; then
  echo "vendor-static: firebase still imports from gstatic.com" >&2
  exit 1
fi

# axe-core: the accessibility checker the browser tests inject (tests/web/browser.py).
if [ -f node_modules/axe-core/axe.min.js ]; then
  mkdir -p "$VENDOR/axe-core"
  cp node_modules/axe-core/axe.min.js "$VENDOR/axe-core/axe.min.js"
  cp node_modules/axe-core/LICENSE "$VENDOR/axe-core/LICENSE" 2>/dev/null || true
fi
