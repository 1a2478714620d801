#!/bin/sh
# One SeaweedFS server (master, volume, filer and the S3 gateway) on the host's network. Ports: S3
# PODIUM_STACK_S3_PORT (18333), master, volume and filer PODIUM_STACK_WEED_{MASTER,VOLUME,FILER}_PORT (19333, 18080,
# 18888); each also uses its port + 10000 for gRPC. PODIUM_STACK_S3_LISTEN (127.0.0.1) is the one address they all bind
# (0.0.0.0 for workers on other machines; they reach only the S3 gateway, which the servers' own 127.0.0.1 serves).
# Without -volume.max=0 and 1 GB volumes, the second bucket fails with "No writable volumes". Telemetry off.
set -eu
listen="${PODIUM_STACK_S3_LISTEN:-127.0.0.1}"
exec weed -logtostderr server -dir=/data -ip=127.0.0.1 -ip.bind="$listen" \
  -s3 -s3.port="${PODIUM_STACK_S3_PORT:-18333}" -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.port="${PODIUM_STACK_WEED_MASTER_PORT:-19333}" -master.telemetry=false -master.volumeSizeLimitMB=1024 \
  -volume.port="${PODIUM_STACK_WEED_VOLUME_PORT:-18080}" -volume.max=0 -volume.preStopSeconds=0 \
  -filer -filer.port="${PODIUM_STACK_WEED_FILER_PORT:-18888}" "$@"
