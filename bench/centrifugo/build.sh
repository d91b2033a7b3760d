#!/usr/bin/env bash
# Build Centrifugo once from the Go module proxy into the repository's cache, for
# bench/bridge_load.py --server centrifugo. The version is pinned (CENTRIFUGO_VERSION overrides it)
# so that every rerun of the comparison measures the same server.
#
#   bench/centrifugo/build.sh            -> .rtx/cache/centrifugo-v6.9.1/centrifugo
set -euo pipefail
version="${CENTRIFUGO_VERSION:-v6.9.1}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
dest="$root/.rtx/cache/centrifugo-$version"
if [[ -x "$dest/centrifugo" ]]; then
    echo "centrifugo $version already built: $dest/centrifugo"
    exit 0
fi
echo "building centrifugo $version into $dest (go install from the Go module proxy; a few minutes)"
mkdir -p "$dest"
GOBIN="$dest" go install "github.com/centrifugal/centrifugo/v6@$version"
"$dest/centrifugo" version
