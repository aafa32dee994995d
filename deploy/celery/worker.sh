#!/bin/sh
# One Celery worker of video-timeline (docs/operations.md, "Beyond one machine"):
#   deploy/celery/worker.sh gpu [NAME]               heavy steps (queue `gpu`), one at a time: one per GPU
#   deploy/celery/worker.sh default [NAME] [PROCS]   every other step (queue `dagster`), PROCS at once (default: cores)
# It needs the environment of the daemon (DAGSTER_HOME, DAGSTER_PG_*, VIDEO_TIMELINE_*) and the
# project's virtual environment on PATH. NAME must be unique per machine (default: the kind).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
kind=${1:?usage: worker.sh gpu|default [NAME] [PROCS]}
case "$kind" in
  gpu) queue=gpu; procs=1 ;;
  default) queue=dagster; procs=${3:-$(nproc)} ;;
  *) echo "worker.sh: unknown kind '$kind' (gpu or default)" >&2; exit 2 ;;
esac
# -i: the project is imported once, before the worker forks its processes (each would take ~5 s).
exec dagster-celery worker start -A dagster_celery.app -y "${VIDEO_TIMELINE_CELERY_CONFIG:-$here/celery.yaml}" \
  -q "$queue" -n "${2:-$kind}" -i video_assets.definitions -- \
  --concurrency="$procs" --without-gossip --without-mingle
