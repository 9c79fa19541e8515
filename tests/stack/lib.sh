# tests/stack/lib.sh — shared by tests/stack/up, down and svc (sourced, bash).
# shellcheck shell=bash
# Every server runs from, logs into and keeps its data under $DIR:
#   $DIR/pg_a $DIR/pg_b      PostgreSQL data + socket dirs (owned by postgres)
#   $DIR/s3                  s3rver objects       $DIR/kinesis   kinesalite LevelDB
#   $DIR/kinesis_local       kinesis-local cwd    $DIR/logs/*.log  every server's log
#   $DIR/run/ports           the chosen ports     $DIR/run/*.pid   node servers' pids
# Node servers run in their own session (setsid), so pid = process group id,
# and carry LOGFLEET_STACK_DIR=$DIR in their environment: down/svc signal a
# pid only if that marker is there, so a recycled pid is never hit.

STACK_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$STACK_SRC/../.." && pwd)
NODE_MODULES=$ROOT/node_modules
NODE_SERVERS="s3 s3_proxy kinesis kinesis_proxy kinesis_local"

stack_init() {    # stack_init DIR
    [ -n "${1:-}" ] || { echo "usage: $0 DIR" >&2; exit 2; }
    DIR=$(realpath -m -- "$1")
    RUN=$DIR/run
    LOGS=$DIR/logs
    if [ "$(id -u)" = 0 ]; then PG_AS_ROOT=1; else PG_AS_ROOT=0; fi
    PGBIN=
    local d
    for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/pg_ctl" ] && { PGBIN=$d; break; }
    done
}

say() { printf '%s\n' "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

load_ports() { [ -f "$RUN/ports" ] && . "$RUN/ports"; }

# --- PostgreSQL -------------------------------------------------------------
as_pg() {    # runs a PostgreSQL binary as the postgres user when we are root
    if [ "$PG_AS_ROOT" = 1 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_port() { case $1 in pg_a) echo "$PG_A_PORT" ;; pg_b) echo "$PG_B_PORT" ;; esac; }

pg_start() {    # pg_start pg_a|pg_b   (same port, same data)
    local n=$1 port
    port=$(pg_port "$n")
    (cd "$DIR/$n" && as_pg "$PGBIN/pg_ctl" -D "$DIR/$n/data" -l "$LOGS/$n.log" -w -t 25 \
        -o "-p $port -h 127.0.0.1 -k $DIR/$n/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c timezone=UTC" \
        start >/dev/null)
}

pg_pid() {    # the postmaster's pid, if it is ours and alive
    local f=$DIR/$1/data/postmaster.pid pid datadir
    [ -f "$f" ] || return 1
    { read -r pid; read -r datadir; } <"$f"
    [ "$datadir" = "$DIR/$1/data" ] && [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$PGBIN/postgres" ] || return 1
    echo "$pid"
}

pg_signal() {    # pg_signal SIG pg_a|pg_b — the postmaster and all its children
    local sig=$1 pid c
    pid=$(pg_pid "$2") || return 1
    # stop the postmaster first so that it forks no new backend meanwhile
    [ "$sig" = STOP ] && kill -s STOP "$pid"
    for c in $(pg_children "$pid"); do kill -s "$sig" "$c" 2>/dev/null; done
    kill -s "$sig" "$pid"
}

pg_children() {    # pids whose parent is $1
    local want=$1 p stat rest ppid
    for p in /proc/[0-9]*/stat; do
        { read -r stat <"$p"; } 2>/dev/null || continue
        rest=${stat##*) }
        read -r _ ppid _ <<<"$rest"
        if [ "$ppid" = "$want" ]; then p=${p#/proc/}; echo "${p%/stat}"; fi
    done
}

pg_stop() {
    pg_pid "$1" >/dev/null || return 0
    pg_signal CONT "$1" || true
    (cd "$DIR/$1" && as_pg "$PGBIN/pg_ctl" -D "$DIR/$1/data" -m immediate -w -t 20 stop >/dev/null 2>&1) || true
}

# --- node servers -------------------------------------------------------------
node_cmd() {    # prints nothing; sets CMD=(...) CWD=... for a node server name
    CWD=$DIR
    case $1 in
    s3) CMD=(node --openssl-legacy-provider "$NODE_MODULES/s3rver/bin/s3rver.js" -d "$DIR/s3"
            -a 127.0.0.1 -p "$S3_PORT" --no-vhost-buckets --configure-bucket logs) ;;
    s3_proxy) CMD=(node "$STACK_SRC/sigv4_proxy.js" --listen "127.0.0.1:$S3_PROXY_PORT"
            --upstream "127.0.0.1:$S3_PORT" --service s3 --region us-east-1 --key S3RVER --secret S3RVER) ;;
    kinesis) CMD=(node "$STACK_SRC/kinesalite_server.js" "$KIN_PORT" "$DIR/kinesis") ;;
    kinesis_proxy) CMD=(node "$STACK_SRC/sigv4_proxy.js" --listen "127.0.0.1:$KIN_PROXY_PORT"
            --upstream "127.0.0.1:$KIN_PORT" --service kinesis --region us-east-1 --key S3RVER --secret S3RVER) ;;
    kinesis_local)
        CWD=$DIR/kinesis_local
        CMD=(env KINESIS_MOCK_CERT_PATH="$NODE_MODULES/kinesis-local/server.json"
            KINESIS_MOCK_PLAIN_PORT="$KL_PORT" KINESIS_MOCK_TLS_PORT="$KL_TLS_PORT"
            INITIALIZE_STREAMS="logs:4" AWS_REGION=us-east-1 SHARD_LIMIT=100
            LOG_LEVEL="${KINESIS_LOCAL_LOG_LEVEL:-WARN}" SHOULD_PERSIST_DATA=false)
        local v
        for v in CREATE_STREAM DELETE_STREAM REGISTER_STREAM_CONSUMER DEREGISTER_STREAM_CONSUMER \
            MERGE_SHARDS SPLIT_SHARD UPDATE_SHARD_COUNT START_STREAM_ENCRYPTION \
            STOP_STREAM_ENCRYPTION UPDATE_STREAM_MODE; do CMD+=("${v}_DURATION=0ms"); done
        CMD+=(node -r "$STACK_SRC/force_loopback.js" "$NODE_MODULES/kinesis-local/main.js") ;;
    *) die "unknown node server $1" ;;
    esac
}

node_start() {    # node_start NAME — in its own session, pid in $RUN/NAME.pid
    local n=$1
    node_cmd "$n"
    mkdir -p "$CWD"
    (cd "$CWD" && LOGFLEET_STACK_DIR=$DIR exec setsid "${CMD[@]}" </dev/null >>"$LOGS/$n.log" 2>&1) &
    echo $! >"$RUN/$n.pid"
}

is_ours() {    # is_ours PID — alive and carrying our marker
    [ -n "${1:-}" ] && [ -r "/proc/$1/environ" ] &&
        { tr '\0' '\n' <"/proc/$1/environ"; } 2>/dev/null | grep -qxF "LOGFLEET_STACK_DIR=$DIR"
}

node_pid() {
    local pid
    [ -f "$RUN/$1.pid" ] || return 1
    read -r pid <"$RUN/$1.pid"
    is_ours "$pid" || return 1
    echo "$pid"
}

node_signal() {    # node_signal SIG NAME — its whole process group
    local pid
    pid=$(node_pid "$2") || return 1
    kill -s "$1" -- "-$pid" 2>/dev/null || kill -s "$1" "$pid"
}

node_stop() {
    local n=$1 pid
    pid=$(node_pid "$n") || { rm -f "$RUN/$n.pid"; return 0; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
    kill -CONT -- "-$pid" 2>/dev/null    # a frozen server must wake to die
    for _ in $(seq 50); do
        is_ours "$pid" || break
        sleep 0.1
    done
    if is_ours "$pid"; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null; fi
    for _ in $(seq 20); do is_ours "$pid" || break; sleep 0.05; done
    rm -f "$RUN/$n.pid"
}

# --- readiness ---------------------------------------------------------------
CURL=(curl -sS --noproxy '*' --max-time 5)

http_up() { "${CURL[@]}" -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; }

kin_call() {    # kin_call ENDPOINT OP JSON  -> prints the response body
    "${CURL[@]}" --aws-sigv4 "aws:amz:us-east-1:kinesis" --user S3RVER:S3RVER \
        -H "X-Amz-Target: Kinesis_20131202.$2" -H 'Content-Type: application/x-amz-json-1.1' \
        --data-binary "$3" "$1/"
}

s3_head_bucket() {    # s3_head_bucket ENDPOINT -> HTTP code
    "${CURL[@]}" -o /dev/null -w '%{http_code}' -I --aws-sigv4 "aws:amz:us-east-1:s3" --user S3RVER:S3RVER \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$1/logs" 2>/dev/null
}

stream_active() {    # stream_active ENDPOINT
    kin_call "$1" DescribeStreamSummary '{"StreamName":"logs"}' 2>/dev/null | grep -q '"StreamStatus":"ACTIVE"'
}

# wait_for NAME SECONDS CMD... — polls CMD every 0.1 s; fails early if the
# named node server died.
wait_for() {
    local n=$1 secs=$2 end
    shift 2
    end=$((SECONDS + secs))
    while ! "$@"; do
        if [ "$SECONDS" -ge "$end" ]; then return 1; fi
        case " $NODE_SERVERS " in *" $n "*) node_pid "$n" >/dev/null || return 1 ;; esac
        sleep 0.1
    done
}

endpoint() {    # endpoint NAME
    case $1 in
    s3) echo "http://127.0.0.1:$S3_PORT" ;;
    s3_proxy) echo "http://127.0.0.1:$S3_PROXY_PORT" ;;
    kinesis) echo "http://127.0.0.1:$KIN_PORT" ;;
    kinesis_proxy) echo "http://127.0.0.1:$KIN_PROXY_PORT" ;;
    kinesis_local) echo "http://127.0.0.1:$KL_PORT" ;;
    esac
}

node_ready() {    # node_ready NAME SECONDS
    case $1 in
    s3) wait_for s3 "$2" http_up "$S3_PORT" ;;
    s3_proxy) wait_for s3_proxy "$2" http_up "$S3_PROXY_PORT" ;;
    kinesis) wait_for kinesis "$2" http_up "$KIN_PORT" ;;
    kinesis_proxy) wait_for kinesis_proxy "$2" http_up "$KIN_PROXY_PORT" ;;
    kinesis_local) wait_for kinesis_local "$2" stream_active "$(endpoint kinesis_local)" ;;
    esac
}

show_log() {    # the tail of a server's log, for a failure report
    echo "---- $LOGS/$1.log (tail) ----" >&2
    tail -n 25 "$LOGS/$1.log" 2>/dev/null | sed 's/^/  /' >&2
    echo "----" >&2
}
