#!/usr/bin/env bash
# Copy the built browser assets from node_modules into web/static/vendor (served by the app: no CDN, works offline).
set -euo pipefail
cd "$(dirname "$0")/.."
src=node_modules
dst=web/static/vendor
rm -rf "$dst/bootstrap" "$dst/bootstrap-icons" "$dst/bpmn-js" "$dst/htmx"
mkdir -p "$dst/bootstrap" "$dst/bootstrap-icons/fonts" "$dst/bpmn-js/assets" "$dst/htmx"
cp "$src/bootstrap/dist/css/bootstrap.min.css" "$src/bootstrap/dist/js/bootstrap.bundle.min.js" \
   "$src/bootstrap/LICENSE" "$dst/bootstrap/"
cp "$src/bootstrap-icons/font/bootstrap-icons.min.css" "$src/bootstrap-icons/LICENSE" "$dst/bootstrap-icons/"
cp "$src/bootstrap-icons/font/fonts/"bootstrap-icons.woff* "$dst/bootstrap-icons/fonts/"
cp "$src/bpmn-js/dist/bpmn-viewer.production.min.js" "$src/bpmn-js/LICENSE" "$dst/bpmn-js/"
cp "$src/bpmn-js/dist/assets/bpmn-js.css" "$src/bpmn-js/dist/assets/diagram-js.css" "$dst/bpmn-js/assets/"
cp "$src/htmx.org/dist/htmx.min.js" "$src/htmx.org/LICENSE" "$dst/htmx/"
echo "vendored into $dst:"
for p in bootstrap bootstrap-icons bpmn-js htmx.org; do
  node -e "const p=require('./$src/$p/package.json'); console.log('  ' + p.name + ' ' + p.version + ' (' + p.license + ')')"
done
