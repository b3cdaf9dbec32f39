#!/usr/bin/env bash
# Release archives: one per binary and target, named so that install.sh, the GitHub action,
# the GitLab component and `cargo binstall` can find them without an index:
#
#   mwctl-v0.1.0-x86_64-unknown-linux-musl.tar.gz          (mwctl-v0.1.0-x86_64-unknown-linux-musl/mwctl)
#   mwctl-server-v0.1.0-x86_64-unknown-linux-musl.tar.gz   (… /mwctl-server)
#   mwctl-v0.1.0-x86_64-pc-windows-msvc.zip                (… /mwctl.exe)
#
# and (re)writes OUT_DIR/SHA256SUMS over every archive in OUT_DIR, in `sha256sum -c` format,
# so the release job can run it once more over the archives of every target.
#
#   scripts/package.sh TARGET BINARY_DIR OUT_DIR VERSION   # archive BINARY_DIR/{mwctl,mwctl-server}
#   scripts/package.sh --sums OUT_DIR                      # only rewrite SHA256SUMS
set -euo pipefail

usage() {
  echo "usage: $0 TARGET BINARY_DIR OUT_DIR VERSION | $0 --sums OUT_DIR" >&2
  exit 2
}

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$@"; else shasum -a 256 "$@"; fi
}

write_sums() {
  local out=$1
  (
    cd "$out"
    shopt -s nullglob
    local files=(*.tar.gz *.zip)
    if [ ${#files[@]} -eq 0 ]; then
      echo "no archives in $out" >&2
      exit 1
    fi
    sha256 "${files[@]}" > SHA256SUMS.tmp
    mv SHA256SUMS.tmp SHA256SUMS
  )
}

if [ "${1:-}" = --sums ]; then
  [ $# -eq 2 ] || usage
  write_sums "$2"
  exit 0
fi
[ $# -eq 4 ] || usage
target=$1 bin_dir=$2 out=$3 version=${4#v}
case "$version" in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) echo "VERSION must look like 1.2.3 (or v1.2.3), not ${4:?}" >&2; exit 2 ;;
esac
case "$target" in
  *-windows-*) ext=.exe format=zip ;;
  *) ext='' format=tar.gz ;;
esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$(cd "$(dirname "$0")/.." && pwd)

for bin in mwctl mwctl-server; do
  src="$bin_dir/$bin$ext"
  if ! [ -f "$src" ]; then
    echo "missing $src: build it first (cargo build --release --target $target -p $bin)" >&2
    exit 1
  fi
  name="$bin-v$version-$target"
  mkdir "$stage/$name"
  cp "$src" "$stage/$name/$bin$ext"
  chmod 0755 "$stage/$name/$bin$ext"
  cp "$root/README.md" "$stage/$name/"
  rm -f "$out/$name.$format"
  if [ "$format" = zip ]; then
    if command -v zip >/dev/null 2>&1; then
      (cd "$stage" && zip -qr "$out/$name.zip" "$name")
    else
      # Windows runners have 7-Zip rather than Info-ZIP.
      (cd "$stage" && 7z a -tzip -bd "$out/$name.zip" "$name" >/dev/null)
    fi
  else
    (cd "$stage" && tar -czf "$out/$name.tar.gz" "$name")
  fi
  echo "$out/$name.$format"
done

write_sums "$out"
