#!/bin/sh
# Vendor uPlot (MIT) for the office dashboard's battery chart: fetched from the npm registry by npm itself,
# pinned to one version and checked against a SHA-256 of the tarball before anything is copied. The copied
# files are committed, so the office never loads anything from the internet at run time.
#   sh scripts/vendor-uplot.sh        (needs npm; run from anywhere)
set -eu
VERSION=1.6.32
SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/office/web/static/vendor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
npm pack --silent "uplot@$VERSION" >/dev/null
TARBALL="uplot-$VERSION.tgz"
GOT=$(sha256sum "$TARBALL" | cut -d' ' -f1)
if [ "$GOT" != "$SHA256" ]; then
  echo "uplot-$VERSION.tgz: SHA-256 $GOT does not match the pinned $SHA256; nothing copied" >&2
  exit 1
fi
tar -xzf "$TARBALL"
mkdir -p "$DEST"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css "$DEST/"
cp package/LICENSE "$DEST/uPlot.LICENSE"
printf 'uPlot %s from the npm registry (tarball SHA-256 %s), MIT licence in uPlot.LICENSE.\n' "$VERSION" "$SHA256" \
  > "$DEST/README.txt"
echo "uPlot $VERSION vendored into $DEST"
