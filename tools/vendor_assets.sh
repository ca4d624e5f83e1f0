#!/usr/bin/env bash
# Put the JavaScript the static book needs under book/_static/vendor/, from the npm registry,
# so the built HTML loads nothing from a CDN:
#   - @jupyter-widgets/html-manager's standalone embed.js (renders saved widget state; BSD-3)
#   - MathJax 3 (Apache-2.0)
# Versions are pinned here; `make book` reruns this only when this file changes.
set -euo pipefail
HTML_MANAGER=@jupyter-widgets/html-manager@1.0.15
MATHJAX=mathjax@3.2.2

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/book/_static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "vendor_assets: npm is needed (apt-get install npm)" >&2; exit 1; }
(cd "$work" && npm pack --silent "$HTML_MANAGER" "$MATHJAX" >/dev/null)

rm -rf "$dest" && mkdir -p "$dest/html-manager" "$dest/mathjax"
tar xzf "$work"/jupyter-widgets-html-manager-*.tgz -C "$work"
# embed.js plus the icon fonts it references (relative to itself), and the license texts.
cp "$work"/package/dist/embed.js "$work"/package/dist/embed.js.LICENSE.txt "$dest/html-manager/"
cp "$work"/package/dist/*.{woff,woff2,ttf,eot,svg} "$dest/html-manager/"
cp "$work"/package/package.json "$dest/html-manager/"
cat > "$dest/html-manager/LICENSE" <<'TXT'
@jupyter-widgets/html-manager is part of ipywidgets, distributed under the BSD 3-Clause License
(see package.json; Copyright (c) Jupyter Development Team). The licenses of the libraries bundled
into embed.js are in embed.js.LICENSE.txt.
TXT
rm -rf "$work/package"

tar xzf "$work"/mathjax-*.tgz -C "$work"
cp -r "$work"/package/es5/. "$dest/mathjax/"
cp "$work"/package/LICENSE "$dest/mathjax/LICENSE"
echo "vendor_assets: html-manager and MathJax in ${dest#"$root"/}"
