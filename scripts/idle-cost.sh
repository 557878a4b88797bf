#!/usr/bin/env bash
# Idle cost of the daemon: 1,000 jobs, a 30 s interval, 5 minutes of CPU time and RSS.
# Usage: cargo build --release && S3PRIO=$PWD/target/release/s3prio scripts/idle-cost.sh
set -u
B=$(realpath "${S3PRIO:-target/release/s3prio}")
W=$(mktemp -d)
cd "$W"
$B emulator --listen 127.0.0.1:9311 --jobs 1000 --seed 3 > emu.log 2>&1 &
EMU=$!
sleep 2
cat > s3prio.toml <<CFG
[reconcile]
interval = "30s"
[baseline]
store = ["file"]
state_file = "state.json"
[http]
listen = "127.0.0.1:9312"
[[targets]]
account_id = "123456789012"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:9311"
[windows.bh]
timezone = "America/New_York"
days = ["Mon-Fri"]
ranges = ["09:00-17:00"]
[[rules]]
name = "urgent"
when = { tags = { urgent = "true" }, in_window = "bh" }
action = { set = 900 }
CFG
AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=y AWS_EC2_METADATA_DISABLED=true RUST_LOG=info $B run --config s3prio.toml > daemon.log 2>&1 &
D=$!
sleep 30   # warm-up: first cycle done
t0=$(awk '{print $14+$15}' /proc/$D/stat)
sleep 300
t1=$(awk '{print $14+$15}' /proc/$D/stat)
rss=$(grep VmRSS /proc/$D/status | awk '{print $2}')
hwm=$(grep VmHWM /proc/$D/status | awk '{print $2}')
echo "idle: CPU ticks over 300 s: $((t1-t0)) (= $(echo "scale=3; ($t1-$t0)/100" | bc) s, $(echo "scale=3; ($t1-$t0)/300" | bc)% of a core); RSS ${rss} KiB; peak ${hwm} KiB"
curl -s 127.0.0.1:9311/_emulator/stats
kill $D $EMU
