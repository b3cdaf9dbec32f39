#!/usr/bin/env bash
# The main job end to end on the embedded default: the companion server (SQLite) on a free
# loopback port with a temporary data dir, a key, a linked repo, a deployment reported with
# `deploy start` / `deploy finish`, a small backfill with `mwctl send`, and what was stored.
set -euo pipefail
cd "$(dirname "$0")/.."
# One stream, so notes and data read in order when the output is captured.
exec 2>&1

echo "==> building mwctl and the companion server (mwctl-server)"
cargo build --quiet -p mwctl -p mwctl-server --bin mwctl --bin mwctl-server
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mwctl="$target/debug/mwctl"
server_bin="$target/debug/mwctl-server"

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> starting the server (data in $work/data)"
"$server_bin" --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$work/server.out" 2>/dev/null && break
  sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$work/server.out")
[ -n "$url" ] || { echo "server did not start:"; cat "$work/server.log"; exit 1; }
echo "    $url"

# mwctl keeps its config apart from yours for the demo.
export MW_CONFIG="$work/config.toml" MW_URL="$url"
run() { echo "\$ mwctl $*"; "$mwctl" "$@"; }

echo "==> admin: log in with the admin key the server wrote, link a repo, make a CI key"
"$mwctl" login --api-key-stdin <"$work/data/admin.key"
run repos link https://github.com/acme/shop
ci_key=$("$mwctl" keys create --name demo-ci --scope deployments --scope incidents -q)
run keys list

echo "==> a pipeline reports a deployment (with the CI key, as a pipeline would)"
export MW_API_KEY="$ci_key" MW_STATE_FILE="$work/deploy-state.json"
run deploy start --repo https://github.com/acme/shop --branch main --workflow production --commit 4f1c2d3e --run-id demo-1 --actor dana
sleep 1
run deploy finish --status success --repo https://github.com/acme/shop --branch main --workflow production

echo "==> an alert hook opens an incident caused by that deployment; a runbook resolves it"
export MW_INCIDENT_STATE_FILE="$work/incidents.json"
run incident open --key INC-1 --title "checkout errors above 5%" --repo https://github.com/acme/shop --deployment demo-1 --workflow production
sleep 2
run incident resolve INC-1
unset MW_API_KEY

echo "==> a small backfill: 1,200 historical runs from an exported JSON file"
python3 - "$work/history.json" <<'PY'
import json, sys, datetime
start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
runs = [{
    "workflow_name": "production",
    "repo_urls": ["https://github.com/acme/shop"],
    "event_actor": ["alice", "bob", "carol"][i % 3],
    "head_branch": "main",
    "workflow_run_unique_id": f"hist-{i}",
    "status": "FAILURE" if i % 10 == 0 else "SUCCESS",
    "workflow_run_conducted_at": (start + datetime.timedelta(hours=6 * i)).isoformat(),
    "duration": 120 + i % 300,
    "commit_sha": f"{i:07x}",
} for i in range(1200)]
json.dump(runs, open(sys.argv[1], "w"))
PY
run validate "$work/history.json"
run send "$work/history.json"

echo "==> what the server stored"
sleep 1
run events list
run runs list --workflow production --limit 5
echo
"$mwctl" runs list --all -o json | python3 -c '
import json, sys, collections
page = json.load(sys.stdin)
runs = page["runs"]
assert len(runs) == page["total"], "--all lists every run"
by = collections.Counter(r["status"] for r in runs)
live = [r for r in runs if r["workflow_run_unique_id"] == "demo-1"][0]
print(f"stored runs: {len(runs)} ({dict(by)})")
print("deployment demo-1: {}, duration {}s, commit {}".format(live["status"], live["duration"], live["commit_sha"]))
'

echo
echo "==> incidents and the DORA figures of the last 7 days"
run incidents list
run dora --since 7d --interval day
"$mwctl" dora --since 7d -o json | python3 -c '
import json, sys
t = json.load(sys.stdin)["total"]
cfr = t["change_failure_rate"]
print("DORA, last 7 days: {} deployment(s), change failure rate {}/{}, time to restore {}s".format(
    t["deployment_frequency"]["deployments"], cfr["failed_deployments"], cfr["deployments"],
    t["time_to_restore"]["mean_seconds"]))
'
