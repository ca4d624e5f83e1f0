#!/usr/bin/env bash
# Put the JavaScript the static book needs under book/_static/vendor/, from the npm registry,
# so the built HTML loads nothing from a CDN:
#   - @jupyter-widgets/html-manager's standalone embed.js (renders saved widget state; BSD-3),
#     used only with `mlnotes_widgets: html-manager` in _config.yml: by default the book
#     renders its widgets with book/_static/mlnotes-widgets.js and never loads embed.js
#   - MathJax 4 (Apache-2.0), which breaks long inline and display math on narrow screens,
#     and its default font, @mathjax/mathjax-newcm-font (Apache-2.0; CHTML woff2 files only)
#   - axe-core is NOT vendored: the browser tests take axe.min.js from the PyPI package
#     axe-playwright-python.
# Versions are pinned here; `make book` reruns this only when this file changes.
set -euo pipefail
HTML_MANAGER=@jupyter-widgets/html-manager@1.0.15
MATHJAX=mathjax@4.1.3
MATHJAX_FONT=@mathjax/mathjax-newcm-font@4.1.3

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/book/_static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

command -v npm >/dev/null || { echo "vendor_assets: npm is needed (apt-get install npm)" >&2; exit 1; }
(cd "$work" && npm pack --silent "$HTML_MANAGER" "$MATHJAX" "$MATHJAX_FONT" >/dev/null)

rm -rf "$dest" && mkdir -p "$dest/html-manager" "$dest/mathjax" "$dest/mathjax-fonts"
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

# MathJax 4: the combined TeX + CHTML component and the pieces it loads on demand (TeX
# extensions, the menu, assistive MathML). Not the speech engine (sre/, 4.6 MB): the book
# turns speech off and keeps MathJax's hidden MathML for screen readers.
tar xzf "$work"/mathjax-4*.tgz -C "$work"
cp "$work"/package/tex-chtml.js "$work"/package/loader.js "$work"/package/startup.js "$dest/mathjax/"
cp -r "$work"/package/{input,output,ui,a11y} "$dest/mathjax/"
cp "$work"/package/LICENSE "$work"/package/package.json "$dest/mathjax/"
rm -rf "$work/package"

# The font's CHTML data and woff2 files, laid out as MathJax's loader asks for them
# (loader.paths.fonts in _config.yml): [fonts]/mathjax-newcm-font/chtml/{woff2,dynamic}/...
tar xzf "$work"/mathjax-mathjax-newcm-font-*.tgz -C "$work"
font="$dest/mathjax-fonts/mathjax-newcm-font"
mkdir -p "$font"
cp -r "$work"/package/chtml "$work"/package/chtml.js "$font/"
cp "$work"/package/package.json "$font/"
cp "$dest/mathjax/LICENSE" "$font/LICENSE"
echo "vendor_assets: html-manager, MathJax 4 and its font in ${dest#"$root"/}"
