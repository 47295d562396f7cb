# Sourced by backup.sh and restore.sh: find the database and the Python that reads it.
# shellcheck shell=bash disable=SC2034  # db_* are set here for the sourcing script

# The Python that runs dbtarget.py. With --config it must be able to import zhoubao.
zb_python() {
    if [[ -n ${ZHOUBAO_PYTHON:-} ]]; then
        printf '%s\n' "$ZHOUBAO_PYTHON"
    elif [[ -x /opt/zhoubao/.venv/bin/python ]]; then
        printf '%s\n' /opt/zhoubao/.venv/bin/python
    else
        printf '%s\n' python3
    fi
}

# zb_target --config FILE | --url URL: set db_kind and db_host, db_port, db_user, db_name,
# db_sslmode (PostgreSQL) or db_path (SQLite) from dbtarget.py's KEY=value lines.
zb_target() {
    local output line key value
    db_kind="" db_host="" db_port="" db_user="" db_name="" db_sslmode="" db_path=""
    output=$("$(zb_python)" "$ZB_DEPLOY_DIR/dbtarget.py" "$@") || exit 2
    while IFS= read -r line; do
        key=${line%%=*}
        value=${line#*=}
        case $key in
            kind) db_kind=$value ;;
            host) db_host=$value ;;
            port) db_port=$value ;;
            user) db_user=$value ;;
            dbname) db_name=$value ;;
            sslmode) db_sslmode=$value ;;
            path) db_path=$value ;;
        esac
    done <<<"$output"
}

# Export libpq's variables for pg_dump/pg_restore/psql; the password comes from PGPASSWORD
# or ~/.pgpass as for zhoubao itself.
zb_export_libpq() {
    [[ -n $db_host ]] && export PGHOST=$db_host
    [[ -n $db_port ]] && export PGPORT=$db_port
    [[ -n $db_user ]] && export PGUSER=$db_user
    [[ -n $db_sslmode ]] && export PGSSLMODE=$db_sslmode
    export PGDATABASE=$db_name
    return 0
}

zb_say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
zb_die() { zb_say "$*"; exit 1; }
