#!/usr/bin/env bash
# Start-up cost of commands, side by side: each command runs N times, interleaved with the
# others, under `perf stat`; prints the median CPU time (task-clock: user + system, of the
# process alone) and the median page faults. CPU time, not wall time, so other work on the
# machine moves the figures less.
#
#   scripts/startup.sh [-n N] 'target/release/mwctl --version' /bin/true
#
# Each command is one argument, split on spaces. Needs perf (apt-get install linux-perf).
set -euo pipefail

n=300
if [ "${1:-}" = -n ]; then
  n=${2:?-n needs a number}
  shift 2
fi
if [ $# -eq 0 ]; then
  echo "usage: $0 [-n N] 'COMMAND ARGS' ['COMMAND ARGS' ...]" >&2
  exit 2
fi
command -v perf >/dev/null || { echo "perf is not on PATH: apt-get install linux-perf" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for ((i = 0; i < n; i++)); do
  for ((c = 1; c <= $#; c++)); do
    read -ra cmd <<< "${!c}"
    # -x,: CSV on stderr; the command's own output is discarded.
    perf stat -x, -e task-clock,page-faults -o "$work/one" -- "${cmd[@]}" >/dev/null 2>&1 \
      || { echo "failed: ${!c}" >&2; exit 1; }
    awk -F, '$3 == "task-clock" { t = $1 } $3 == "page-faults" { f = $1 } END { print t, f }' \
      "$work/one" >> "$work/$c"
  done
done

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-50s %12s %12s\n' "command ($n runs each, interleaved)" "CPU ms" "page faults"
for ((c = 1; c <= $#; c++)); do
  t=$(awk '{ print $1 }' "$work/$c" | median)
  f=$(awk '{ print $2 }' "$work/$c" | median)
  printf '%-50s %12.3f %12d\n' "${!c}" "$t" "$f"
done
