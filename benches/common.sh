# Shared by the load benchmarks (sourced, not run): the release binary and an nginx on
# 127.0.0.1:$PORT answering every request with a 2-byte body, pinned to CPU 1, its files
# under $WORK (the caller's trap removes them and stops nginx through $WORK/nginx.pid).
# Also: installing nginx and wrk when missing, measuring a pinned client's CPU, the
# closed-model scenario the CPU comparisons run, counting a run's records.
# Expects ROOT, WORK and PORT; sets SW.

build_stormwatch() {
  echo "building stormwatch (release)..." >&2
  (cd "$ROOT" && cargo build --release --quiet --bin stormwatch)
  SW=${CARGO_TARGET_DIR:-$ROOT/target}/release/stormwatch
}

start_nginx() {
  local nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  mkdir -p "$WORK/logs"
  cat > "$WORK/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$PORT;
    location / { return 200 "ok"; }
  }
}
CONF
  taskset -c 1 "$nginx" -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/logs/error.log"
  # Ready when the port accepts a connection (at most 5 s).
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nginx did not start on 127.0.0.1:$PORT; see $WORK/logs/error.log" >&2
  return 1
}

# Installs Debian nginx and wrk when missing (with sudo when not root).
install_nginx_wrk() {
  local need_apt=() sudo_cmd=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
  command -v wrk >/dev/null || need_apt+=(wrk)
  if [ ${#need_apt[@]} -gt 0 ]; then
    [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
}

# Runs "$@" pinned to CPU 0; sets CPU (user+sys seconds) and leaves output in $WORK/out.
measure() {
  local TIMEFORMAT='%U %S'
  local t
  t=$( { time taskset -c 0 "$@" >"$WORK/out" 2>&1; } 2>&1 )
  CPU=$(awk '{print $1 + $2}' <<<"$t")
}

# Writes $WORK/closed.toml: $CONNS closed-model users against $URL for $SECS seconds.
write_closed_scenario() {
  cat > "$WORK/closed.toml" <<TOML
[target]
url = "$URL"
connections = $CONNS
[[flows]]
name = "get"
steps = [{ path = "/" }]
[[phases]]
name = "max"
model = "closed"
users = $CONNS
duration = "${SECS}s"
TOML
}

count_records() { # run dir -> data lines in request segments
  cat "$1"/requests/part-*.csv | grep -vc '^sequence,'
}
