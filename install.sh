#!/bin/sh
# Installs a prebuilt mwctl from a GitHub release, verified against the release's SHA256SUMS
# before anything is unpacked or installed.
#
#   curl -sSfL https://github.com/acme/mwctl/releases/latest/download/install.sh | sh
#   curl -sSfL …/install.sh | sh -s -- --version 0.1.0 --to ~/.local/bin
#
# Options:
#   --version V     the release to install (1.2.3 or v1.2.3) [default: the latest release]
#   --to DIR        where to put mwctl [default: ~/.local/bin]
#   --base-url URL  where releases live: URL/vVERSION/<archive> [env MW_RELEASE_URL;
#                   default: https://github.com/$MW_DEFAULT_REPO/releases/download]
#   --target T      the target triple to download [default: this machine's]
#   --timeout SECS  bound on each download [env MW_INSTALL_TIMEOUT; default 60]
#
# Exit codes: 0 installed; 1 download failed; 2 bad usage; 3 no prebuilt binary for this
# platform or version (build from source: cargo install mwctl); 4 checksum mismatch (nothing
# installed).
set -eu

# The release workflow writes the publishing repository here.
MW_DEFAULT_REPO=acme/mwctl

usage() {
  cat <<'EOF'
Installs a prebuilt mwctl, verified against the release's SHA256SUMS.

usage: install.sh [--version V] [--to DIR] [--base-url URL] [--target T] [--timeout SECS]

  --version V     the release to install (1.2.3 or v1.2.3) [default: the latest release]
  --to DIR        where to put mwctl [default: ~/.local/bin]
  --base-url URL  where releases live: URL/vVERSION/<archive> [env MW_RELEASE_URL;
                  default: the GitHub releases of this project]
  --target T      the target triple to download [default: this machine's]
  --timeout SECS  bound on each download [env MW_INSTALL_TIMEOUT; default 60]

Exit codes: 0 installed; 1 download failed; 2 bad usage; 3 no prebuilt binary for this
platform or version (cargo install mwctl builds one); 4 checksum mismatch (nothing installed).
EOF
}

say() { echo "mwctl install: $*" >&2; }
die() {
  code=$1
  shift
  say "error: $*"
  exit "$code"
}

version=
to="${HOME:-}/.local/bin"
base="${MW_RELEASE_URL:-}"
target=
timeout="${MW_INSTALL_TIMEOUT:-60}"
while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] || die 2 "--version needs a value, e.g. --version 0.1.0"; version=$2; shift 2 ;;
    --to) [ $# -ge 2 ] || die 2 "--to needs a directory"; to=$2; shift 2 ;;
    --base-url) [ $# -ge 2 ] || die 2 "--base-url needs a URL"; base=$2; shift 2 ;;
    --target) [ $# -ge 2 ] || die 2 "--target needs a target triple"; target=$2; shift 2 ;;
    --timeout) [ $# -ge 2 ] || die 2 "--timeout needs seconds"; timeout=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) die 2 "unknown option $1 (see --help)" ;;
  esac
done
case "$timeout" in '' | *[!0-9]*) die 2 "--timeout takes whole seconds, not $timeout" ;; esac
command -v curl >/dev/null 2>&1 || die 1 "curl is needed to download mwctl"

# Downloads URL to FILE; sets $http to the HTTP status (000: no answer in time).
fetch() { # URL FILE
  http=$(curl -sSL --proto '=http,https' --connect-timeout 10 --max-time "$timeout" \
    -o "$2" -w '%{http_code}' "$1") || true
  [ "${http:-000}" = 200 ]
}

if [ -z "$target" ]; then
  os=$(uname -s)
  arch=$(uname -m)
  case "$arch" in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die 3 "no prebuilt mwctl for the $arch architecture: build it with cargo install mwctl" ;;
  esac
  case "$os" in
    Linux) target="$arch-unknown-linux-musl" ;;
    Darwin) target="$arch-apple-darwin" ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      [ "$arch" = x86_64 ] || die 3 "no prebuilt mwctl for Windows on $arch: build it with cargo install mwctl"
      target=x86_64-pc-windows-msvc ;;
    *) die 3 "no prebuilt mwctl for $os: build it with cargo install mwctl" ;;
  esac
fi
case "$target" in
  *-windows-*) format=zip exe=mwctl.exe ;;
  *) format=tar.gz exe=mwctl ;;
esac

if [ -z "$base" ]; then
  base="https://github.com/$MW_DEFAULT_REPO/releases/download"
  if [ -z "$version" ]; then
    # releases/latest redirects to releases/tag/vX.Y.Z.
    latest=$(curl -fsSL -o /dev/null --connect-timeout 10 --max-time "$timeout" -w '%{url_effective}' \
      "https://github.com/$MW_DEFAULT_REPO/releases/latest") || die 1 "could not find the latest release (pass --version)"
    version=${latest##*/}
  fi
fi
[ -n "$version" ] || die 2 "pass --version with --base-url or MW_RELEASE_URL"
version=${version#v}
case "$version" in
  [0-9]*.[0-9]*.[0-9]* ) ;;
  *) die 2 "--version takes a release number like 0.1.0, not $version" ;;
esac
base=${base%/}
archive="mwctl-v$version-$target.$format"
url="$base/v$version"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

say "downloading $url/$archive"
for file in SHA256SUMS "$archive"; do
  if ! fetch "$url/$file" "$tmp/$file"; then
    [ "$http" = 404 ] && die 3 "release v$version has no $file at $url (not released for $target?): build mwctl with cargo install mwctl"
    [ "${http:-000}" = 000 ] && die 1 "could not download $url/$file: no answer within ${timeout}s (--timeout, MW_INSTALL_TIMEOUT)"
    die 1 "could not download $url/$file: HTTP $http"
  fi
done

want=$(awk -v f="$archive" '($2 == f || $2 == "*" f) { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$want" ] || die 4 "SHA256SUMS of v$version does not list $archive: not installing it"
if command -v sha256sum >/dev/null 2>&1; then
  got=$(sha256sum "$tmp/$archive" | cut -d' ' -f1)
elif command -v shasum >/dev/null 2>&1; then
  got=$(shasum -a 256 "$tmp/$archive" | cut -d' ' -f1)
else
  got=$(openssl dgst -sha256 -r "$tmp/$archive" | cut -d' ' -f1)
fi
[ "$got" = "$want" ] || die 4 "checksum mismatch for $archive (SHA256SUMS says $want, the download is $got): not installing it"

mkdir "$tmp/x"
if [ "$format" = zip ]; then
  (cd "$tmp/x" && unzip -q "../$archive")
else
  (cd "$tmp/x" && tar -xzf "../$archive")
fi
bin="$tmp/x/mwctl-v$version-$target/$exe"
[ -f "$bin" ] || die 1 "$archive has no mwctl-v$version-$target/$exe"

mkdir -p "$to"
# Copy next to the destination, then rename: a running or half-copied mwctl is never seen.
cp "$bin" "$to/.$exe.tmp.$$"
chmod 0755 "$to/.$exe.tmp.$$"
mv -f "$to/.$exe.tmp.$$" "$to/$exe"
say "installed $("$to/$exe" --version 2>/dev/null || echo "mwctl v$version") to $to/$exe"
case ":${PATH:-}:" in
  *":$to:"*) ;;
  *) say "add $to to PATH to run it as mwctl" ;;
esac
