#!/usr/bin/env bash
# Back up zhoubao's database to a timestamped file. See usage() and docs/deploy.md.
set -euo pipefail

ZB_DEPLOY_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$ZB_DEPLOY_DIR/common.sh"

usage() {
    cat <<USAGE
usage: ${0##*/} [--config FILE | --url URL] [--output-dir DIR] [--keep-days N]

Back up zhoubao's database into DIR and print the backup file's path.

Which database: the one zhoubao's configuration names in [storage] (--config FILE; by
default \$ZHOUBAO_CONFIG, else /etc/zhoubao/zhoubao.toml), read with zhoubao's own Python
(\$ZHOUBAO_PYTHON, else /opt/zhoubao/.venv/bin/python, else python3), or the database URL
given with --url (postgresql+asyncpg://USER@HOST[:PORT]/DB or sqlite+aiosqlite:///FILE).

  PostgreSQL  pg_dump --format=custom into DIR/zhoubao-YYYYMMDDTHHMMSSZ.pgdump; the password
              comes from PGPASSWORD or ~/.pgpass, never from the URL. pg_dump must be at
              least as new as the server.
  SQLite      SQLite's online backup (Python's sqlite3 module; no sqlite3 program needed) into
              DIR/zhoubao-YYYYMMDDTHHMMSSZ.sqlite3. Safe while zhoubao runs.

Options:
  --config FILE     zhoubao's configuration file
  --url URL         the database URL instead of a configuration
  --output-dir DIR  where to write the backup (default /var/lib/zhoubao/backups; created)
  --keep-days N     afterwards, delete this directory's backups older than N days
  -h, --help        show this message

Backups are written with mode 600 (they hold people's names and chat identities). Restore one
with restore.sh.
USAGE
}

config="" url="" output_dir=/var/lib/zhoubao/backups keep_days=""
while (($#)); do
    case $1 in
        --config) config=${2:?--config needs a file}; shift 2 ;;
        --url) url=${2:?--url needs a URL}; shift 2 ;;
        --output-dir) output_dir=${2:?--output-dir needs a directory}; shift 2 ;;
        --keep-days) keep_days=${2:?--keep-days needs a number}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) zb_say "unknown argument: $1"; usage >&2; exit 2 ;;
    esac
done
if [[ -n $config && -n $url ]]; then
    zb_say "give --config or --url, not both"; exit 2
fi
if [[ -n $keep_days && ! $keep_days =~ ^[0-9]+$ ]]; then
    zb_say "--keep-days needs a whole number of days"; exit 2
fi
if [[ -n $url ]]; then
    zb_target --url "$url"
else
    zb_target --config "${config:-${ZHOUBAO_CONFIG:-/etc/zhoubao/zhoubao.toml}}"
fi

umask 077
mkdir -p -- "$output_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)

case $db_kind in
    postgresql)
        command -v pg_dump >/dev/null || zb_die "pg_dump not found (Debian: apt-get install postgresql-client)"
        zb_export_libpq
        backup="$output_dir/zhoubao-$stamp.pgdump"
        [[ -e $backup ]] && zb_die "$backup already exists"
        # Write under a temporary name, so that a failed or interrupted dump never looks like
        # a backup. --no-password: fail rather than wait for a password at a cron job's prompt.
        pg_dump --format=custom --no-password --file="$backup.partial" "$db_name" || {
            rm -f -- "$backup.partial"
            zb_die "pg_dump of database $db_name failed"
        }
        ;;
    sqlite)
        [[ -f $db_path ]] || zb_die "SQLite database $db_path does not exist"
        backup="$output_dir/zhoubao-$stamp.sqlite3"
        [[ -e $backup ]] && zb_die "$backup already exists"
        "$(zb_python)" - "$db_path" "$backup.partial" <<'PY' || { rm -f -- "$backup.partial"; zb_die "backup of $db_path failed"; }
import sqlite3
import sys

source_path, target_path = sys.argv[1], sys.argv[2]
# Read-only: the backup never creates or changes the live file. timeout: wait for a writer.
source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
target = sqlite3.connect(target_path)
try:
    # The online backup API copies a consistent snapshot while zhoubao keeps writing.
    source.backup(target)
    # A single self-contained file: no -wal beside it is needed to read the backup.
    target.execute("PRAGMA journal_mode=DELETE")
    (result,) = target.execute("PRAGMA integrity_check").fetchone()
    if result != "ok":
        sys.exit(f"integrity check of the backup failed: {result}")
finally:
    target.close()
    source.close()
PY
        ;;
    *) zb_die "unknown database kind: $db_kind" ;;
esac

mv -- "$backup.partial" "$backup"
zb_say "backed up $db_kind database to $backup"

if [[ -n $keep_days ]]; then
    find "$output_dir" -maxdepth 1 -type f \
        \( -name 'zhoubao-*.pgdump' -o -name 'zhoubao-*.sqlite3' \) \
        -mtime "+$keep_days" -print -delete | while IFS= read -r old; do
        zb_say "deleted old backup $old"
    done
fi
printf '%s\n' "$backup"
