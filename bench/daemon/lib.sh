# Shared by bench/daemon/hostile.sh and moving.sh (sourced, from the top of
# the tree, with B set to the daemon's build directory).
client=build/bench/client/gigapool-bench

# spawn_daemon SOCKET LOG [VAR=VALUE...] -- GIGAPOOLD_ARGS...: gigapoold in
# the background with its stderr in LOG, its pid in $daemon, killed on exit;
# returns once SOCKET exists (5 s at most).
spawn_daemon() {
	local socket=$1 log=$2 env=()

	shift 2
	while [ "$1" != -- ]; do
		env+=("$1")
		shift
	done
	shift
	env "${env[@]}" "$B/gigapoold" --socket "$socket" "$@" 2>"$log" &
	daemon=$!
	trap 'kill "$daemon" 2>/dev/null || true' EXIT
	for _ in $(seq 100); do
		[ -S "$socket" ] && return 0
		sleep 0.05
	done
	echo "$0: gigapoold did not come up, see $log" >&2
	exit 1
}

# bench_status SOCKET REQUESTS: one gigapool-bench run of one client, as
# "p50 p99 max throughput" (us, calls/s).
bench_status() {
	local line

	line=$("$client" --socket "$1" --clients 1 --requests "$2" | tail -n 1)
	[[ $line =~ ^p50=([0-9.]+)us\ p99=([0-9.]+)us\ max=([0-9.]+)us\ throughput=([0-9]+)\ calls/s$ ]] ||
		{ echo "$0: unexpected gigapool-bench output: $line" >&2; exit 1; }
	echo "${BASH_REMATCH[*]:1}"
}
