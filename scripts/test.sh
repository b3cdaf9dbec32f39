#!/usr/bin/env bash
# The README's test command: sets up what the tests need, then runs every unit and end-to-end
# test of the workspace with cargo-nextest and prints its summary. Works on a machine that has
# only rustup: each missing piece is installed (Debian packages only when running as root with
# apt-get), or named with the way to get it.
#
#   ./scripts/test.sh                  # everything
#   ./scripts/test.sh -E 'binary(deploy)'   # extra arguments go to `cargo nextest run`
#
# MW_SKIP_BROWSER=1 skips the admin page's browser test (it fails without Chromium otherwise).
# MW_SKIP_POSTGRES=1 skips the PostgreSQL tests (they fail without PostgreSQL otherwise); they
# start throwaway clusters of their own from the installed binaries, no server needs to run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "==> $*" >&2; }

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest (once)"
  cargo install cargo-nextest --locked
fi

if [ "${MW_SKIP_BROWSER:-}" != 1 ]; then
  say "browser test: Chromium and playwright-core (MW_SKIP_BROWSER=1 skips the test)"
  chromium=${MW_CHROMIUM:-/usr/bin/chromium}
  if ! [ -x "$chromium" ]; then
    if can_apt; then
      apt_install chromium
    else
      say "missing $chromium: run \`sudo apt-get install chromium\` (or set MW_CHROMIUM, or MW_SKIP_BROWSER=1)"
    fi
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if can_apt; then
      apt_install nodejs npm
    else
      say "missing Node.js: install Node.js 20 or later (or set MW_SKIP_BROWSER=1)"
    fi
  fi
  if command -v npm >/dev/null && ! [ -d tests/browser/node_modules/playwright-core ]; then
    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
  fi
fi

if [ "${MW_SKIP_POSTGRES:-}" != 1 ]; then
  say "PostgreSQL tests: the server binaries (MW_SKIP_POSTGRES=1 skips the tests)"
  if ! command -v pg_config >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if can_apt; then
      # The binaries only: the package's own cluster is not needed (the tests start theirs).
      apt_install postgresql
    else
      say "missing PostgreSQL: run \`sudo apt-get install postgresql\` (or set MW_PG_BINDIR, or MW_SKIP_POSTGRES=1)"
    fi
  fi
fi

say "cargo nextest run --workspace --all-targets --no-fail-fast $*"
exec cargo nextest run --workspace --all-targets --no-fail-fast "$@"
