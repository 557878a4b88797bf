#!/usr/bin/env bash
# Idle cost of the daemon: 1,000 jobs, a 30 s interval, CPU time and RSS over 5 minutes.
#
# The policy's only rule raises urgent jobs inside a UTC window built from the current hour, so
# the result does not depend on the day or hour the script runs:
#   S3PRIO_IDLE_WINDOW=closed (default): the window opens 6 hours from now; for the whole run no
#     rule can match, so a cycle needs no tag and makes no change (one ListJobs per cycle).
#   S3PRIO_IDLE_WINDOW=open: the window opened an hour ago and closes in two; the first cycle
#     reads the tags of every managed job at the default pace (about 10 requests per second)
#     and raises the urgent ones, so the warm-up is 180 s; later cycles list, and re-read tags
#     only as their refresh interval passes.
# S3PRIO_IDLE_SETTINGS=defaults (default): the default settings (tag baseline store, opt-out
#   tag): the first cycle reads every managed job's tags once, to learn what s3prio remembers
#   of it (about 100 s at the default pace), so the warm-up is 150 s; later cycles only list.
# S3PRIO_IDLE_SETTINGS=file: the file baseline store; no tag is read while the window is closed.
# S3PRIO_IDLE_WARMUP (default 30 closed with the file store, 150 closed with the defaults, 180
# open) and S3PRIO_IDLE_SECS (default 300) set the two phases. The emulator's request counts
# after the warm-up and at the end are printed.
#
# Usage: cargo build --release && S3PRIO=$PWD/target/release/s3prio scripts/idle-cost.sh
set -euo pipefail
B=$(realpath "${S3PRIO:-target/release/s3prio}")
MODE=${S3PRIO_IDLE_WINDOW:-closed}
SETTINGS=${S3PRIO_IDLE_SETTINGS:-defaults}
case "$SETTINGS" in
  defaults) STORE='' ;;
  file) STORE=$'[baseline]\nstore = ["file"]\nstate_file = "state.json"' ;;
  *) echo "S3PRIO_IDLE_SETTINGS must be defaults or file, not '$SETTINGS'" >&2; exit 2 ;;
esac
case "$MODE/$SETTINGS" in
  open/*) WARMUP=${S3PRIO_IDLE_WARMUP:-180} ;;
  */defaults) WARMUP=${S3PRIO_IDLE_WARMUP:-150} ;;
  *) WARMUP=${S3PRIO_IDLE_WARMUP:-30} ;;
esac
SECS=${S3PRIO_IDLE_SECS:-300}
hh() { printf '%02d:00' $(( (10#$(date -u +%H) + $1 + 24) % 24 )); }
case "$MODE" in
  closed) RANGE="$(hh 6)-$(hh 7)" ;;
  open) RANGE="$(hh -1)-$(hh 2)" ;;
  *) echo "S3PRIO_IDLE_WINDOW must be open or closed, not '$MODE'" >&2; exit 2 ;;
esac
W=$(mktemp -d)
cd "$W"
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
"$B" emulator --listen 127.0.0.1:9311 --jobs 1000 --seed 3 > emu.log 2>&1 &
PIDS+=($!)
sleep 2
cat > s3prio.toml <<CFG
[reconcile]
interval = "30s"
$STORE
[http]
listen = "127.0.0.1:9312"
[[targets]]
account_id = "123456789012"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:9311"
[windows.idle]
timezone = "UTC"
ranges = ["$RANGE"]
[[rules]]
name = "urgent"
when = { tags = { urgent = "true" }, in_window = "idle" }
action = { set = 900 }
CFG
AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y AWS_EC2_METADATA_DISABLED=true RUST_LOG=info "$B" run --config s3prio.toml > daemon.log 2>&1 &
D=$!
PIDS+=("$D")
sleep "$WARMUP"   # warm-up: the first cycle is done
curl -s 127.0.0.1:9311/_emulator/stats > stats-before.json
t0=$(awk '{print $14+$15}' "/proc/$D/stat")
sleep "$SECS"
t1=$(awk '{print $14+$15}' "/proc/$D/stat")
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$D/status")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$D/status")
hz=$(getconf CLK_TCK)
echo "settings $SETTINGS; window $MODE ($RANGE UTC); $(date -u +%Y-%m-%dT%H:%M:%SZ); commit $(git -C "$OLDPWD" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "idle: CPU ticks over $SECS s: $((t1-t0)) (= $(echo "scale=3; ($t1-$t0)/$hz" | bc) s, $(echo "scale=3; 100*($t1-$t0)/$hz/$SECS" | bc)% of a core); RSS ${rss} KiB; peak ${hwm} KiB"
echo "emulator requests after the warm-up:"; cat stats-before.json; echo
echo "emulator requests at the end:"; curl -s 127.0.0.1:9311/_emulator/stats; echo
