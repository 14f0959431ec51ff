#!/usr/bin/env bash
# Refreshes the browser files the server serves from npm (the only time they are fetched: the
# server serves them from the package, offline): Swagger UI for /docs, ReDoc for /redoc, uPlot
# for the console's charts (/console).
#   bash scripts/vendor-docs-ui.sh [swagger-ui-dist version] [redoc version] [uplot version]
set -euo pipefail
SWAGGER=${1:-5.35.0}
REDOC=${2:-2.5.4}
UPLOT=${3:-1.6.32}
DEST=service/http/static
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

unpack() {  # package version folder
  (cd "$work" && npm pack --silent "$1@$2" >/dev/null)
  mkdir -p "$work/$3" && tar xzf "$work/$1-$2.tgz" -C "$work/$3" --strip-components 1
}
unpack swagger-ui-dist "$SWAGGER" swagger
unpack redoc "$REDOC" redoc
unpack uplot "$UPLOT" uplot

rm -rf "$DEST/swagger-ui" "$DEST/redoc" "$DEST/uplot"
mkdir -p "$DEST/swagger-ui" "$DEST/redoc" "$DEST/uplot"
cp "$work"/swagger/{swagger-ui-bundle.js,swagger-ui-bundle.js.LICENSE.txt,swagger-ui.css} \
   "$work"/swagger/{favicon-32x32.png,LICENSE,NOTICE} "$DEST/swagger-ui/"
cp "$work"/redoc/bundles/{redoc.standalone.js,redoc.standalone.js.LICENSE.txt} \
   "$work"/redoc/LICENSE "$DEST/redoc/"
cp "$work"/uplot/dist/{uPlot.iife.min.js,uPlot.min.css} "$work"/uplot/LICENSE "$DEST/uplot/"
# Source-map links to files we do not ship (a browser's developer tools would ask for them).
sed -i 's|^//# sourceMappingURL=.*$||' "$DEST/swagger-ui/swagger-ui-bundle.js"
sed -i 's|/\*# sourceMappingURL=[^*]*\*/||' "$DEST/swagger-ui/swagger-ui.css"
printf 'swagger-ui-dist %s (Apache-2.0)\nredoc %s (MIT)\nuplot %s (MIT)\n' \
  "$SWAGGER" "$REDOC" "$UPLOT" > "$DEST/VERSIONS"
echo "vendored: $(tr '\n' ' ' < "$DEST/VERSIONS")"
