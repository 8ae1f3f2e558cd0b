# Sourced, not run: throwaway PostgreSQL, Redis and S3 (moto) servers on free loopback
# ports, for the browser test and the benchmarks. Each `start_*` keeps its files under
# $SERVICES_DIR (set it first) and `stop_services` stops whatever was started.
#
#   start_postgres   PG_URL     a database "modu" on a fresh cluster (fsync on)
#   start_redis      REDIS_URL  no persistence
#   start_moto       AWS_ENDPOINT_URL and test credentials exported; `make_bucket NAME`

pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
[ -n "$pg_bin" ] && export PATH="$PATH:$pg_bin"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "port $1 never opened" >&2
    return 1
}
# initdb refuses to run as root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start_postgres() {
    local port; port="$(free_port)"
    chmod 1777 "$SERVICES_DIR"
    as_pg initdb -U postgres --auth=trust -E UTF8 -D "$SERVICES_DIR/pgdata" >/dev/null
    as_pg pg_ctl start -w -D "$SERVICES_DIR/pgdata" -l "$SERVICES_DIR/pg.log" \
        -o "-p $port -k $SERVICES_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" >/dev/null
    as_pg createdb -h 127.0.0.1 -p "$port" -U postgres modu
    PG_URL="postgres://postgres@127.0.0.1:$port/modu"
}

start_redis() {
    local port; port="$(free_port)"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --daemonize yes --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log"
    wait_port "$port"
    REDIS_URL="redis://127.0.0.1:$port"
}

start_moto() {
    local port; port="$(free_port)"
    moto_server -H 127.0.0.1 -p "$port" >"$SERVICES_DIR/moto.log" 2>&1 &
    echo $! >"$SERVICES_DIR/moto.pid"
    wait_port "$port"
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
}

make_bucket() {
    python3 -c "import boto3,sys; boto3.client('s3', endpoint_url='$AWS_ENDPOINT_URL').create_bucket(Bucket=sys.argv[1])" "$1"
}

stop_services() {
    [ -n "${SERVICES_DIR:-}" ] || return 0
    if [ -d "$SERVICES_DIR/pgdata" ]; then
        as_pg pg_ctl stop -D "$SERVICES_DIR/pgdata" -m fast >/dev/null 2>&1 || true
    fi
    for name in redis moto; do
        [ -f "$SERVICES_DIR/$name.pid" ] && kill "$(cat "$SERVICES_DIR/$name.pid")" 2>/dev/null || true
    done
    sleep 0.2
}
