#!/usr/bin/env bash
# Restore zhoubao's database from a backup made by backup.sh. See usage() and docs/deploy.md.
set -euo pipefail

ZB_DEPLOY_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$ZB_DEPLOY_DIR/common.sh"

usage() {
    cat <<USAGE
usage: ${0##*/} [--config FILE | --url URL] [--yes] [--force] BACKUP

Restore BACKUP (a .pgdump or .sqlite3 file written by backup.sh) into zhoubao's database.
Stop zhoubao first (systemctl stop zhoubao, or docker compose stop zhoubao) on every server
that uses this database.

Which database: the one zhoubao's configuration names in [storage] (--config FILE; by
default \$ZHOUBAO_CONFIG, else /etc/zhoubao/zhoubao.toml), read with zhoubao's own Python
(\$ZHOUBAO_PYTHON, else /opt/zhoubao/.venv/bin/python, else python3), or the database URL
given with --url (postgresql+asyncpg://USER@HOST[:PORT]/DB or sqlite+aiosqlite:///FILE).

  PostgreSQL  pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction
              into the database, which must exist (empty, or an earlier zhoubao database:
              its tables are replaced). Objects end up owned by the connecting user, so
              connect as zhoubao's own role. All or nothing: on an error nothing changes.
  SQLite      copied back page by page with SQLite's backup API (not cp, so a leftover -wal
              file cannot be replayed over the restored data); the file is created if
              missing. The file it replaces is kept as FILE.before-restore-TIMESTAMP.

Options:
  --config FILE  zhoubao's configuration file
  --url URL      the database URL instead of a configuration
  --yes          do not ask for confirmation (needed when not run from a terminal)
  --force        restore even though a zhoubao process seems to be running on the database
                 (its lease in the database has not expired)
  -h, --help     show this message
USAGE
}

config="" url="" yes="" force="" backup=""
while (($#)); do
    case $1 in
        --config) config=${2:?--config needs a file}; shift 2 ;;
        --url) url=${2:?--url needs a URL}; shift 2 ;;
        --yes) yes=1; shift ;;
        --force) force=1; shift ;;
        -h | --help) usage; exit 0 ;;
        -*) zb_say "unknown option: $1"; usage >&2; exit 2 ;;
        *)
            [[ -z $backup ]] || { zb_say "give one backup file"; usage >&2; exit 2; }
            backup=$1; shift ;;
    esac
done
if [[ -z $backup ]]; then
    usage >&2; exit 2
fi
if [[ -n $config && -n $url ]]; then
    zb_say "give --config or --url, not both"; exit 2
fi
[[ -f $backup && -r $backup ]] || zb_die "cannot read backup file $backup"

magic=$(head -c 15 -- "$backup" | tr -d '\0')
case $magic in
    PGDMP*) backup_kind=postgresql ;;
    "SQLite format 3") backup_kind=sqlite ;;
    *) zb_die "$backup is neither a pg_dump custom-format file nor an SQLite database" ;;
esac

if [[ -n $url ]]; then
    zb_target --url "$url"
else
    zb_target --config "${config:-${ZHOUBAO_CONFIG:-/etc/zhoubao/zhoubao.toml}}"
fi
if [[ $backup_kind != "$db_kind" ]]; then
    zb_die "$backup is a $backup_kind backup, but the database is $db_kind"
fi
if [[ $db_kind == postgresql ]]; then
    where="PostgreSQL database $db_name${db_host:+ on $db_host}"
else
    where="SQLite database $db_path"
fi

confirm() {
    [[ -n $yes ]] && return 0
    if [[ ! -t 0 ]]; then
        zb_die "not a terminal: add --yes to replace the $where"
    fi
    local answer
    read -r -p "Replace everything in the $where with $backup? Type yes: " answer
    [[ $answer == yes ]] || zb_die "nothing restored"
}

# A running zhoubao renews its lease in the database (table leases) all the time; an unexpired
# lease means some server still runs it, and restoring under it would mix old and new data.
live_lease_check() {
    local holders=$1
    if [[ -n $holders ]]; then
        if [[ -n $force ]]; then
            zb_say "warning: zhoubao seems to be running ($holders); restoring anyway (--force)"
        else
            zb_die "zhoubao seems to be running on this database ($holders): stop it on every server first, or add --force"
        fi
    fi
}

case $db_kind in
    postgresql)
        for program in pg_restore psql; do
            command -v "$program" >/dev/null \
                || zb_die "$program not found (Debian: apt-get install postgresql-client)"
        done
        zb_export_libpq
        # A zhoubao backup has zhoubao's schema version table; refuse anything else.
        listing=$(pg_restore --list -- "$backup") || zb_die "pg_restore cannot read $backup"
        grep -q ' TABLE public alembic_version ' <<<"$listing" \
            || zb_die "$backup holds no zhoubao database (no alembic_version table)"
        holders=$(psql --no-password --no-psqlrc --quiet --tuples-only --no-align \
            --set ON_ERROR_STOP=1 --command \
            "SELECT string_agg(holder, ', ') FROM leases WHERE expires_at > now()" 2>/dev/null \
            || true)
        live_lease_check "$holders"
        confirm
        pg_restore --clean --if-exists --no-owner --no-privileges --single-transaction \
            --exit-on-error --no-password --dbname="$db_name" -- "$backup" \
            || zb_die "pg_restore into $db_name failed; the database is unchanged"
        ;;
    sqlite)
        holders=""
        if [[ -f $db_path ]]; then
            holders=$("$(zb_python)" - "$db_path" <<'PY' || true
import sqlite3
import sys
from datetime import UTC, datetime

connection = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=10)
try:
    rows = connection.execute("SELECT holder, expires_at FROM leases").fetchall()
except sqlite3.Error:
    rows = []  # no leases table: not zhoubao's, or an old schema
now = datetime.now(UTC)
live = []
for holder, expires_at in rows:
    expires = datetime.fromisoformat(str(expires_at))
    if (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) > now:
        live.append(holder)
print(", ".join(live))
PY
            )
        fi
        live_lease_check "$holders"
        confirm
        umask 077
        mkdir -p -- "$(dirname -- "$db_path")"
        "$(zb_python)" - "$backup" "$db_path" "$(date -u +%Y%m%dT%H%M%SZ)" <<'PY' \
            || zb_die "restore into $db_path failed"
import os
import sqlite3
import sys

backup_path, db_path, stamp = sys.argv[1:]
backup = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
try:
    (result,) = backup.execute("PRAGMA integrity_check").fetchone()
    if result != "ok":
        sys.exit(f"{backup_path} is damaged: {result}")
    tables = {name for (name,) in backup.execute("SELECT name FROM sqlite_master")}
    if "alembic_version" not in tables:
        sys.exit(f"{backup_path} holds no zhoubao database (no alembic_version table)")
    if os.path.exists(db_path):
        # Keep what is about to be replaced, in case the wrong backup was chosen.
        kept = f"{db_path}.before-restore-{stamp}"
        current = sqlite3.connect(db_path, timeout=30)
        copy = sqlite3.connect(kept)
        try:
            current.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")
        finally:
            copy.close()
            current.close()
        print(f"restore.sh: the replaced database is kept as {kept}", file=sys.stderr)
    target = sqlite3.connect(db_path, timeout=30)
    try:
        # Page by page under SQLite's locks, through the target's own journal: unlike cp, a
        # stale -wal or -shm file beside the target cannot bring old pages back.
        backup.backup(target)
        (result,) = target.execute("PRAGMA integrity_check").fetchone()
        if result != "ok":
            sys.exit(f"integrity check after the restore failed: {result}")
    finally:
        target.close()
finally:
    backup.close()
PY
        ;;
esac
zb_say "restored $backup into the $where"
