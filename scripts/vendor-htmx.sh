#!/usr/bin/env bash
# Vendors htmx (the site's one script library) from npm, pinned by version and checksum, into
# app/web/static/vendor/. The file is committed and shipped in the package: the site never loads a script from
# elsewhere. To upgrade: change VERSION, run this with SHA256="" to print the new checksum, review, pin it.
set -euo pipefail
VERSION="${VERSION:-2.0.11}"
SHA256="${SHA256-$(cat "$(dirname "$0")/../app/web/static/vendor/htmx.min.js.sha256" 2>/dev/null || true)}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$VERSION" >/dev/null && tar xzf "htmx.org-$VERSION.tgz")
got="$(sha256sum "$work/package/dist/htmx.min.js" | cut -d' ' -f1)"
if [ -n "$SHA256" ] && [ "$got" != "$SHA256" ]; then
  echo "vendor-htmx: checksum mismatch for htmx $VERSION: got $got, pinned $SHA256" >&2
  exit 1
fi
cp "$work/package/dist/htmx.min.js" "$root/app/web/static/vendor/htmx.min.js"
cp "$work/package/LICENSE" "$root/app/web/static/vendor/htmx.LICENSE"
echo "$got" > "$root/app/web/static/vendor/htmx.min.js.sha256"
echo "vendor-htmx: htmx $VERSION ($got)"
