#!/usr/bin/env bash
# Builds the mwctl and mwctl-server images (docs/container/Dockerfile, Dockerfile.server) from
# static musl binaries with buildah, without network access (both are FROM scratch), then runs
# each binary inside its image (`buildah run`) as a smoke test.
#
#   scripts/containers.sh --bin-dir target/x86_64-unknown-linux-musl/release [--tag 0.1.0]
#
# --bin-dir holds mwctl and mwctl-server, built with
#   cargo build --release --target x86_64-unknown-linux-musl -p mwctl -p mwctl-server
# (or taken from the release archives). The CA bundle baked into the images is this machine's
# (--ca-bundle FILE to choose another). Needs buildah (apt-get install buildah); runs as root or
# rootless, with chroot isolation, so it also works inside a container.
set -euo pipefail

usage() {
  echo "usage: $0 --bin-dir DIR [--tag TAG] [--ca-bundle FILE]" >&2
  exit 2
}

bin_dir='' tag=latest ca_bundle=/etc/ssl/certs/ca-certificates.crt
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir=${2:?}; shift 2 ;;
    --tag) tag=${2:?}; shift 2 ;;
    --ca-bundle) ca_bundle=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
[ -n "$bin_dir" ] || usage
command -v buildah >/dev/null || { echo "buildah is not on PATH: apt-get install buildah" >&2; exit 1; }
[ -s "$ca_bundle" ] || { echo "no CA bundle at $ca_bundle: pass --ca-bundle FILE (apt-get install ca-certificates)" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
for bin in mwctl mwctl-server; do
  [ -f "$bin_dir/$bin" ] || { echo "missing $bin_dir/$bin: build it first (see $0)" >&2; exit 1; }
  # FROM scratch has no libc: a dynamically linked binary would not start.
  if file "$bin_dir/$bin" | grep -q 'dynamically linked'; then
    echo "$bin_dir/$bin is dynamically linked: build it for x86_64-unknown-linux-musl" >&2
    exit 1
  fi
  cp "$bin_dir/$bin" "$ctx/$bin"
done
cp "$ca_bundle" "$ctx/ca-certificates.crt"
mkdir -p "$ctx/rootfs/tmp" "$ctx/data"
chmod 1777 "$ctx/rootfs/tmp"

build() {
  local image=$1 dockerfile=$2
  buildah build --quiet --isolation chroot --pull=never -f "$root/docs/container/$dockerfile" \
    -t "localhost/$image:$tag" "$ctx" >/dev/null
  echo "built localhost/$image:$tag"
}
build mwctl Dockerfile
build mwctl-server Dockerfile.server

# Each binary runs in its image, as the image's user, and finds the CA bundle.
smoke() {
  local image=$1 bin=$2
  local c
  c=$(buildah from --pull=never "localhost/$image:$tag")
  # shellcheck disable=SC2064
  trap "buildah rm $c >/dev/null; rm -rf '$ctx'" EXIT
  buildah run --isolation chroot "$c" -- "/usr/local/bin/$bin" --version
  buildah rm "$c" >/dev/null
  trap 'rm -rf "$ctx"' EXIT
}
smoke mwctl mwctl
smoke mwctl-server mwctl-server
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E "^localhost/mwctl(-server)?:$tag "
