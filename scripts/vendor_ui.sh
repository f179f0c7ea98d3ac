#!/usr/bin/env bash
# Vendor the web UI's front-end libraries into vertex_track/ui/static/vendor/.
#
# The UI ships these files as package data: users need no CDN, no npm and no
# build step. Run this only to change a version (then commit the result):
#
#     scripts/vendor_ui.sh
#
# It installs the pinned versions from the npm registry into a temporary
# folder (npm's ordinary client, no install scripts run) and copies each
# library's minified browser build and its LICENSE file.
#
# Not vendored: cytoscape-svg (the SVG export extension) is GPL-3.0, which
# cannot ship inside this Apache-2.0 package; the lineage page writes its SVG
# export itself (static/lineage_svg.js).
set -euo pipefail

CYTOSCAPE=3.35.0
CYTOSCAPE_DAGRE=4.0.1   # bundles @dagrejs/dagre (MIT); its licence is copied too
DAGRE=3.1.4             # @dagrejs/dagre, for the licence of the copy bundled above
UPLOT=1.6.32

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/vertex_track/ui/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

npm install --prefix "$work" --no-audit --no-fund --ignore-scripts --no-save \
    "cytoscape@$CYTOSCAPE" "cytoscape-dagre@$CYTOSCAPE_DAGRE" "@dagrejs/dagre@$DAGRE" \
    "uplot@$UPLOT" >/dev/null

nm="$work/node_modules"
rm -rf "$dest"
mkdir -p "$dest"
cp "$nm/cytoscape/dist/cytoscape.min.js" "$dest/cytoscape.min.js"
cp "$nm/cytoscape/LICENSE" "$dest/cytoscape.LICENSE"
cp "$nm/cytoscape-dagre/dist/cytoscape-dagre.min.js" "$dest/cytoscape-dagre.min.js"
cp "$nm/cytoscape-dagre/LICENSE" "$dest/cytoscape-dagre.LICENSE"
cp "$nm/@dagrejs/dagre/LICENSE" "$dest/dagre.LICENSE"
cp "$nm/uplot/dist/uPlot.iife.min.js" "$dest/uPlot.iife.min.js"
cp "$nm/uplot/dist/uPlot.min.css" "$dest/uPlot.min.css"
cp "$nm/uplot/LICENSE" "$dest/uPlot.LICENSE"

cat > "$dest/VERSIONS.txt" <<VERSIONS
Vendored by scripts/vendor_ui.sh from the npm registry; each library's licence is <name>.LICENSE.
cytoscape $CYTOSCAPE
cytoscape-dagre $CYTOSCAPE_DAGRE (bundles @dagrejs/dagre)
@dagrejs/dagre $DAGRE (licence of the bundled copy)
uplot $UPLOT
VERSIONS
echo "vendored into $dest:"
ls -l "$dest"
