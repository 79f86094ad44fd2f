#!/usr/bin/env bash
# Refresh edition/vendor/ from the npm registry: the widget renderer and
# RequireJS that the HTML edition serves from its own _static/.
#
# Not part of `make html` (which needs no node): run it by hand to move to
# another version, then commit the result. It rewrites vendor/SHA256SUMS,
# which tests/test_html.py checks the vendored files against.
#
#   edition/vendor.sh            # the versions below
#
# The LICENSE files next to the scripts are kept: the npm tarball of
# @jupyter-widgets/html-manager carries none (it is ipywidgets' BSD-3-Clause
# licence, the same text as in the ipywidgets wheel).
set -euo pipefail

HTML_MANAGER=1.0.15   # @jupyter-widgets/html-manager: ipywidgets 8.1.x's renderer
REQUIREJS=2.3.8
FONTAWESOME=5.15.4    # bundled inside embed-amd.js; only its licence is copied

cd "$(dirname "$0")/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "@jupyter-widgets/html-manager@$HTML_MANAGER" \
    "requirejs@$REQUIREJS" "@fortawesome/fontawesome-free@$FONTAWESOME" >/dev/null)
for t in "$tmp"/*.tgz; do mkdir -p "${t%.tgz}" && tar xzf "$t" -C "${t%.tgz}"; done

hm=html-manager-$HTML_MANAGER
rq=requirejs-$REQUIREJS
mkdir -p "$hm" "$rq"
dist=$tmp/jupyter-widgets-html-manager-$HTML_MANAGER/package/dist
# the Font Awesome 5 webfonts its CSS names, beside it as in dist/; woff2 only:
# every current browser takes the woff2 source first
cp "$dist/embed-amd.js" "$dist"/*.woff2 "$hm/"
# the licences of what webpack bundled into it (jQuery, ...), as the package ships them
cp "$dist/embed.js.LICENSE.txt" "$hm/THIRD-PARTY-NOTICES.txt"
cp "$tmp/fortawesome-fontawesome-free-$FONTAWESOME/package/LICENSE.txt" "$hm/fontawesome-free-LICENSE.txt"
cp "$tmp/requirejs-$REQUIREJS/package/require.js" "$rq/"

sha256sum "$hm/embed-amd.js" "$hm"/*.woff2 "$rq/require.js" > SHA256SUMS
cat SHA256SUMS
