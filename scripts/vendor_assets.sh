#!/usr/bin/env bash
# Copy the built browser assets from node_modules into web/static/vendor (served by the app: no CDN, works offline).
set -euo pipefail
cd "$(dirname "$0")/.."
src=node_modules
dst=web/static/vendor
rm -rf "$dst/bootstrap" "$dst/bootstrap-icons" "$dst/bpmn-js" "$dst/bpmn-js-differ" "$dst/htmx" "$dst/echarts"
mkdir -p "$dst/bootstrap" "$dst/bootstrap-icons/fonts" "$dst/bpmn-js/assets" "$dst/bpmn-js-differ" "$dst/htmx" "$dst/echarts"
cp "$src/bootstrap/dist/css/bootstrap.min.css" "$src/bootstrap/dist/js/bootstrap.bundle.min.js" \
   "$src/bootstrap/LICENSE" "$dst/bootstrap/"
cp "$src/bootstrap-icons/font/bootstrap-icons.min.css" "$src/bootstrap-icons/LICENSE" "$dst/bootstrap-icons/"
cp "$src/bootstrap-icons/font/fonts/"bootstrap-icons.woff* "$dst/bootstrap-icons/fonts/"
# The navigated viewer: the plain viewer plus zoom (scroll, pinch) and pan (drag), for every diagram shown.
cp "$src/bpmn-js/dist/bpmn-navigated-viewer.production.min.js" "$src/bpmn-js/LICENSE" "$dst/bpmn-js/"
cp "$src/bpmn-js/dist/assets/bpmn-js.css" "$src/bpmn-js/dist/assets/diagram-js.css" "$dst/bpmn-js/assets/"
# bpmn-js-differ has no browser build: esbuild (a devDependency) bundles it with diffpatch and min-dash into one
# script setting window.BpmnJsDiffer; each bundled package's licence is kept beside it.
"$src/.bin/esbuild" scripts/vendor/bpmn-js-differ.entry.js --bundle --minify --format=iife \
  --global-name=BpmnJsDiffer --legal-comments=none --log-level=warning \
  --outfile="$dst/bpmn-js-differ/bpmn-js-differ.min.js"
cp "$src/bpmn-js-differ/LICENSE" "$dst/bpmn-js-differ/LICENSE"
cp "$src/diffpatch/LICENSE" "$dst/bpmn-js-differ/LICENSE.diffpatch"
cp "$src/bpmn-js-differ/node_modules/min-dash/LICENSE" "$dst/bpmn-js-differ/LICENSE.min-dash"
cp "$src/htmx.org/dist/htmx.min.js" "$src/htmx.org/LICENSE" "$dst/htmx/"
# ECharts' "common" build: bar, line, pie and the components the dashboards use (the full build is 1 MB).
cp "$src/echarts/dist/echarts.common.min.js" "$src/echarts/LICENSE" "$src/echarts/NOTICE" "$dst/echarts/"
echo "vendored into $dst:"
for p in bootstrap bootstrap-icons bpmn-js bpmn-js-differ diffpatch bpmn-js-differ/node_modules/min-dash htmx.org echarts esbuild; do
  node -e "const p=require('./$src/$p/package.json'); console.log('  ' + p.name + ' ' + p.version + ' (' + p.license + ')')"
done
