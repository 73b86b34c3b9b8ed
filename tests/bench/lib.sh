# Shared helpers for the benchmark parts (sourced).
# peak_anon CMD...: runs CMD, prints its wall seconds and peak RssAnon (kB)
# as "SECONDS KB" on fd 3; CMD's own output passes through.
peak_anon() {
	local start end pid peak=0 a
	start=$(date +%s.%N)
	"$@" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		a=$(awk '/^RssAnon/{print $2}' "/proc/$pid/status" 2>/dev/null)
		[ -n "$a" ] && [ "$a" -gt "$peak" ] && peak=$a
		sleep 0.1
	done
	wait "$pid"
	local rc=$?
	end=$(date +%s.%N)
	echo "$(echo "$end - $start" | bc) $peak" >&3
	return $rc
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
kv() { sed -n "s/^$1=//p"; }
free_gb() { df -BG --output=avail "$1" | tail -1 | tr -dc 0-9; }
