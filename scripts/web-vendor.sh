#!/usr/bin/env bash
# scripts/web-vendor.sh - fetches the dashboard's one third-party file set,
# uPlot (a small canvas charting library, MIT), from the npm registry into
# the cache ($ECOM_WEB_VENDOR, default ${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/web),
# checking the tarball against the registry's sha512 integrity; does nothing
# when it is already there. ecom-metrics serves it at /vendor/ (its
# --vendor-dir defaults to the same directory). Nothing is built; the
# dashboard's own files are in monitoring/web/.
#
# Usage: scripts/web-vendor.sh [--print-dir]
set -euo pipefail
version=1.6.32
integrity=sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==
dir=${ECOM_WEB_VENDOR:-${XDG_CACHE_HOME:-$HOME/.cache}/ecom-pipeline/web}
if [[ ${1:-} == --print-dir ]]; then
    echo "$dir"
    exit 0
fi
[[ -z ${1:-} ]] || { echo "usage: scripts/web-vendor.sh [--print-dir]" >&2; exit 2; }
[[ -f $dir/uPlot.iife.min.js && -f $dir/uPlot.min.css && $(cat "$dir/VERSION" 2>/dev/null) == "$version" ]] && exit 0

mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
url=https://registry.npmjs.org/uplot/-/uplot-$version.tgz
echo "web-vendor: fetching uPlot $version from $url" >&2
curl -fsSL --retry 3 --max-time 120 -o "$work/uplot.tgz" "$url"
got=sha512-$(openssl dgst -sha512 -binary "$work/uplot.tgz" | base64 -w0)
[[ $got == "$integrity" ]] || { echo "web-vendor: uplot-$version.tgz does not match the registry's integrity ($got)" >&2; exit 1; }
tar -xzf "$work/uplot.tgz" -C "$work" package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE
cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" "$dir/"
cp "$work/package/LICENSE" "$dir/LICENSE.uPlot"
echo "$version" >"$dir/VERSION"
echo "web-vendor: uPlot $version in $dir" >&2
