#!/usr/bin/env bash
# Take one pgBackRest backup of seatline's database and record its success
# for Prometheus (seatline_backup_last_success_timestamp_seconds{type=...}).
#
# Usage: backup.sh full|diff|incr
# Environment:
#   PGBACKREST_STANZA         stanza name (default: seatline)
#   BACKUP_METRICS_DIR        write seatline_backup_<type>.prom here, for
#                             node_exporter's textfile collector
#   PUSHGATEWAY_URL           or push the metric to this Pushgateway
#   PGBACKREST_*              any pgBackRest option, such as
#                             PGBACKREST_REPO1_CIPHER_PASS
# Exits with pgBackRest's status; the metric only moves on success, so the
# backup-age alerts fire when backups keep failing.
set -euo pipefail

type=${1:-}
case "$type" in
  full | diff | incr) ;;
  *)
    echo "usage: $0 full|diff|incr" >&2
    exit 2
    ;;
esac
stanza=${PGBACKREST_STANZA:-seatline}

# The backup command also expires backups and WAL past the retention settings.
pgbackrest --stanza="$stanza" --type="$type" backup

now=$(date +%s)
metric="# HELP seatline_backup_last_success_timestamp_seconds Unix time of the last successful pgBackRest backup, by type.
# TYPE seatline_backup_last_success_timestamp_seconds gauge
seatline_backup_last_success_timestamp_seconds{type=\"$type\",stanza=\"$stanza\"} $now"

if [[ -n ${BACKUP_METRICS_DIR:-} ]]; then
  # Write and rename, so that the collector never reads half a file.
  tmp=$(mktemp "$BACKUP_METRICS_DIR/.seatline_backup_$type.XXXXXX")
  printf '%s\n' "$metric" >"$tmp"
  chmod 644 "$tmp"
  mv "$tmp" "$BACKUP_METRICS_DIR/seatline_backup_$type.prom"
fi
if [[ -n ${PUSHGATEWAY_URL:-} ]]; then
  printf '%s\n' "$metric" |
    curl --fail --silent --show-error --max-time 10 --data-binary @- \
      "$PUSHGATEWAY_URL/metrics/job/seatline_backup/type/$type"
fi
