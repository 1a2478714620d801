#!/bin/sh
# Start this worker's own Docker engine, then `podium "$@"` (default: worker) against it; on SIGTERM stop the
# worker first (RQ finishes or hands back its job), then the engine.
#
# The worker runs as root here, not as the image's user podium: with the engine's socket, podium would be
# root-equivalent in this container anyway, and root can mount the per-run tmpfs that caps /output while a run
# goes on (runners/output_area.py); the engine shares this container's mount namespace, so it sees that mount.
#
# The engine nests its containers' cgroups under this container's own (so the container's memory and CPU
# accounting, `docker stats`, include the runs), has no bridge and no iptables (every sandbox has network none),
# and logs to /var/log/podium-engine.log.
set -eu
engine_dir=/run/podium-engine
socket="$engine_dir/docker.sock"
mkdir -p "$engine_dir"
own_cgroup=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3; exit}' /proc/self/cgroup)
case "$own_cgroup" in
  ""|/) cgroup_parent="/podium-engine-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')" ;;
  *) cgroup_parent="$own_cgroup/podium-runs" ;;
esac
dockerd --host "unix://$socket" --data-root /var/lib/docker --exec-root "$engine_dir/exec" \
  --pidfile "$engine_dir/dockerd.pid" --bridge none --iptables=false --ip-masq=false --ip6tables=false \
  --cgroup-parent "$cgroup_parent" --log-level warn >/var/log/podium-engine.log 2>&1 &
engine=$!
tries=0
until docker --host "unix://$socket" version >/dev/null 2>&1; do
  tries=$((tries + 1))
  if ! kill -0 "$engine" 2>/dev/null || [ "$tries" -gt 120 ]; then
    echo "podium-worker-with-engine: the worker's Docker engine did not start:" >&2
    tail -n 30 /var/log/podium-engine.log >&2
    exit 1
  fi
  sleep 0.5
done
echo "podium-worker-with-engine: engine up at $socket (cgroup parent $cgroup_parent)" >&2

stop() { kill -TERM "$worker" 2>/dev/null || true; }
trap stop TERM INT
podium "$@" &
worker=$!
status=0
while kill -0 "$worker" 2>/dev/null; do
  wait "$worker" && status=0 || status=$?
done
kill -TERM "$engine" 2>/dev/null || true
wait "$engine" 2>/dev/null || true
exit "$status"
