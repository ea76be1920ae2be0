# Progress of long work, for scripts to source.  A kernel build or a test
# stage can be silent for minutes; this says every 30 s that it still
# runs, how far it is and for how long.
#
#   progress_start LABEL COMMAND [ARG...]   every 30 s, until progress_stop
#                                           or the caller's exit, prints
#                                           "== LABEL: LINE, ELAPSED", LINE
#                                           being what COMMAND prints
#   progress_objects LABEL DIR              the same, LINE counting the object
#                                           files compiled under DIR from now on
#   progress_stop
#   elapsed SECONDS                         prints SECONDS as "12m05s"

elapsed() {
	printf '%dm%02ds\n' $(($1 / 60)) $(($1 % 60))
}

progress_start() {
	local label=$1 parent=$$
	shift
	(
		start=$(date +%s) nap=
		# Stopped while asleep: the sleep goes too, so that nothing is
		# left holding the caller's output open.
		trap 'kill $nap 2>/dev/null; exit 0' TERM
		while :; do
			sleep 30 &
			nap=$!
			wait "$nap"
			# A caller that failed under set -e never called progress_stop.
			kill -0 "$parent" 2>/dev/null || exit 0
			echo "== $label: $("$@"), $(elapsed $(($(date +%s) - start)))"
		done
	) </dev/null &
	progress_pid=$!
}

# objects_since DIR STAMP [NOTE]: how many object files under DIR are newer
# than STAMP, then NOTE.
objects_since() {
	echo "$(find "$1" -name '*.o' -newer "$2" | wc -l) objects compiled${3-}"
}

progress_objects() {
	local before
	before=$(find "$2" -name '*.o' | wc -l)
	touch "$2/.progress-start"
	progress_start "$1" objects_since "$2" "$2/.progress-start" \
		"$([ "$before" -gt 0 ] && echo " (the last build had $before)")"
}

progress_stop() {
	[ -n "${progress_pid-}" ] || return 0
	# bash can complain that a job it already reaped is unknown: the
	# braces take that message too.
	{ kill "$progress_pid"; wait "$progress_pid"; } 2>/dev/null || true
	progress_pid=
}
