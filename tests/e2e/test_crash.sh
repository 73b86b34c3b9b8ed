#!/usr/bin/env bash
# tests/e2e/test_crash.sh - crash safety of the writers.
#
#  1. 20 runs of `lutdb pack` killed with SIGKILL at random instants (half of
#     them replacing an existing OUT): OUT is then absent, or the old file
#     untouched, or a complete new file that verifies.  The stale temporary
#     files the kills leave never confuse the next pack, which succeeds and
#     verifies.
#  2. SIGINT, SIGTERM and SIGHUP during pack: exit 130, no OUT (an existing
#     OUT untouched), no temporary file left.
#  3. Disk full (a small tmpfs when mount works, and a file size limit):
#     one clear line, exit 5, no OUT, no temporary file.
#  4. Reading from a read-only directory (a read-only bind mount when mount
#     works, else a note): info, verify, get, run work, no lock file appears.
#  5. `lutdb shard` (when the command exists): 20 SIGKILLs at random instants,
#     OUTDIR absent or complete; SIGINT gives 130 and no OUTDIR.
# The checkpoint is made by gen_model, sized so that a pack takes about a
# second of CPU; kill instants are drawn over the pack's measured duration.
. "$(dirname "$0")/lib.sh"
e2e_init crash
cd "$T" || exit 1
GEN=$LUTDB_BUILD/tests/tools/gen_model
RUNS=${CRASH_RUNS:-20}
# Crash timing needs the real binary, not memcheck.
BIN=$LUTDB_BIN

if [ ! -x "$GEN" ]; then
	fail "gen_model missing ($GEN): make tests-build"
	e2e_finish
fi
"$GEN" ckpt src --vocab 4096 --hidden 256 --layers 4 --experts 4 --inter 1024 --heads 4 >/dev/null ||
	fail "gen_model ckpt"

now() { date +%s.%N; }
# Random delay in [0, max) seconds, max a decimal.
rand_delay() { awk -v m="$1" -v r="$RANDOM$RANDOM" 'BEGIN { srand(r); printf "%.3f", rand() * m }'; }

t0=$(now)
expect_ok "reference pack" "$BIN" pack src ref.lutdb --quiet --threads 2
DUR=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { d = b - a; printf "%.3f", d < 0.2 ? 0.2 : d }')
echo "     (a pack takes ${DUR}s here)"
expect_ok "reference verifies" lutdb verify ref.lutdb

# ---- 1. SIGKILL ------------------------------------------------------------------
absent=0 complete=0 old=0 bad=0
for i in $(seq 1 "$RUNS"); do
	replace=$((i % 2))
	rm -f out.lutdb
	[ $replace -eq 1 ] && cp ref.lutdb out.lutdb
	d=$(rand_delay "$(awk -v d="$DUR" 'BEGIN { print d * 1.15 }')")
	"$BIN" pack src out.lutdb --quiet --threads 2 2>/dev/null &
	pid=$!
	sleep "$d"
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	if [ ! -e out.lutdb ]; then
		if [ $replace -eq 1 ]; then
			bad=$((bad + 1))
			fail "kill #$i at ${d}s: the existing OUT disappeared"
		else
			absent=$((absent + 1))
		fi
	elif [ $replace -eq 1 ] && cmp -s out.lutdb ref.lutdb; then
		old=$((old + 1))
	elif "$BIN" verify out.lutdb >/dev/null 2>"$T/verify.err"; then
		complete=$((complete + 1))
	else
		bad=$((bad + 1))
		fail "kill #$i at ${d}s: OUT exists and does not verify" "$(cat "$T/verify.err")"
	fi
done
stale=$(tmp_files_of "$T/out.lutdb" | wc -l)
check "$RUNS SIGKILLs: OUT absent ($absent), old file intact ($old) or complete ($complete); $stale stale temporary files" \
	test "$bad" -eq 0
rm -f out.lutdb
expect_ok "pack next to $stale stale temporary files" "$BIN" pack src out.lutdb --quiet --threads 2
expect_ok "that pack verifies" lutdb verify out.lutdb
check "the stale temporary files are still all there, none was reused" \
	test "$(tmp_files_of "$T/out.lutdb" | wc -l)" -eq "$stale"
cmp -s <(lutdb get out.lutdb --layer 3 --token 4095 --raw) <(lutdb get ref.lutdb --layer 3 --token 4095 --raw) &&
	pass "its rows equal the reference's" || fail "its rows differ from the reference's"
rm -f "$T"/.out.lutdb.tmp.*

# ---- 2. SIGINT / SIGTERM / SIGHUP -------------------------------------------------
mkdir sig
for s in INT TERM HUP; do
	for replace in 0 1; do
		rm -f sig/out.lutdb
		[ $replace -eq 1 ] && cp ref.lutdb sig/out.lutdb
		"$BIN" pack src sig/out.lutdb --quiet --threads 2 2>"$T/sig.err" &
		pid=$!
		sleep "$(awk -v d="$DUR" 'BEGIN { printf "%.3f", d * 0.3 }')"
		kill -$s $pid
		wait $pid
		rc=$?
		what="SIG$s during pack$([ $replace -eq 1 ] && echo ' over an existing OUT')"
		if [ $rc -ne 130 ]; then
			fail "$what: exit $rc, expected 130" "$(cat "$T/sig.err")"
		elif [ "$(grep -c '' "$T/sig.err")" -ne 1 ] || ! grep -q "interrupted" "$T/sig.err"; then
			fail "$what: expected one line saying interrupted" "$(cat "$T/sig.err")"
		else
			pass "$what: exit 130 ($(cat "$T/sig.err"))"
		fi
		if [ $replace -eq 1 ]; then
			check "$what: the existing OUT is untouched" cmp -s sig/out.lutdb ref.lutdb
			[ -z "$(tmp_files_of "$T/sig/out.lutdb")" ] && pass "$what: no temporary file" ||
				fail "$what: temporary file left"
		else
			no_output "$what" "$T/sig/out.lutdb"
		fi
	done
done

# ---- 3. disk full --------------------------------------------------------------------
mkdir small
if mount -t tmpfs -o size=16m tmpfs small 2>/dev/null; then
	expect_fail "pack onto a full tmpfs (16 MiB)" 5 "no space left on device" \
		"$BIN" pack src small/out.lutdb --quiet --threads 2
	no_output "pack onto a full tmpfs" "$T/small/out.lutdb"
	check "the full tmpfs is empty again" test -z "$(ls -A small)"
	umount small
else
	pass "disk full on a tmpfs: skipped (mount not permitted here); the file size limit below stands in"
fi
# A file size limit: the preallocation fails (EFBIG), no SIGXFSZ kill.
expect_fail "pack under a 16 MiB file size limit (ulimit -f)" 5 "file size limit" \
	bash -c 'ulimit -f 16384; exec "$0" pack src fsize.lutdb --quiet --threads 2' "$BIN"
no_output "pack under a file size limit" "$T/fsize.lutdb"

# ---- 4. read-only directory ---------------------------------------------------------
mkdir rosrc ro
cp ref.lutdb rosrc/model.lutdb
ro_mode=
if mount --bind rosrc ro 2>/dev/null; then
	if mount -o remount,ro,bind ro 2>/dev/null && ! touch ro/probe 2>/dev/null; then
		ro_mode="read-only bind mount"
	else
		umount ro
	fi
fi
if [ -z "$ro_mode" ] && chattr +i rosrc 2>/dev/null; then
	rmdir ro
	ln -s rosrc ro
	touch ro/probe 2>/dev/null && chattr -i rosrc && rm -f ro/probe || ro_mode="immutable directory (chattr +i)"
fi
if [ -z "$ro_mode" ]; then
	pass "read-only directory: neither a read-only bind mount nor chattr +i is possible here; checking only that no lock file appears"
	[ -L ro ] || { rmdir ro 2>/dev/null; ln -s rosrc ro; }
	ro_mode="writable directory"
fi
before=$(ls -A rosrc)
expect_ok "info from a $ro_mode" lutdb info ro/model.lutdb
expect_ok "verify from a $ro_mode" lutdb verify ro/model.lutdb
expect_ok "get from a $ro_mode" lutdb get ro/model.lutdb --layer 2 --token 100
if "$BIN" run --help >/dev/null 2>&1; then
	expect_ok "run from a $ro_mode" lutdb run ro/model.lutdb --prompt-ids 1,2,3 -n 2 --threads 1 --quiet
fi
check "no lock file or anything else appeared ($ro_mode)" test "$(ls -A rosrc)" = "$before"
if [ "$ro_mode" != "writable directory" ]; then
	expect_fail "pack into the $ro_mode fails cleanly" 5 "cannot create temporary file" \
		"$BIN" pack src ro/new.lutdb --quiet --threads 2
fi
mountpoint -q ro 2>/dev/null && umount ro
chattr -i rosrc 2>/dev/null

# ---- 5. lutdb shard ------------------------------------------------------------------
# Complete shard set: the manifest opens and verifies.
set_ok() { "$BIN" verify "$1/manifest.json" >/dev/null 2>&1; }

shard_crash_tests() {
	local absent=0 complete=0 bad=0 i d pid rc
	t0=$(now)
	expect_ok "reference shard (4 shards)" "$BIN" shard ref.lutdb shards.ref --count 4 --quiet
	local sdur
	sdur=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { d = b - a; printf "%.3f", d < 0.2 ? 0.2 : d }')
	check "the reference shard set verifies" set_ok shards.ref
	for i in $(seq 1 "$RUNS"); do
		rm -rf shards.out
		d=$(rand_delay "$(awk -v d="$sdur" 'BEGIN { print d * 1.15 }')")
		"$BIN" shard ref.lutdb shards.out --count 4 --by $([ $((i % 2)) -eq 0 ] && echo token || echo layer) \
			--quiet 2>/dev/null &
		pid=$!
		sleep "$d"
		kill -KILL $pid 2>/dev/null
		wait $pid 2>/dev/null
		if [ ! -e shards.out ]; then
			absent=$((absent + 1))
		elif set_ok shards.out; then
			complete=$((complete + 1))
		else
			bad=$((bad + 1))
			fail "shard kill #$i at ${d}s: OUTDIR exists and does not verify" "$(ls shards.out)"
		fi
	done
	check "$RUNS SIGKILLs of lutdb shard: OUTDIR absent ($absent) or complete ($complete)" test $bad -eq 0
	rm -rf shards.out
	expect_ok "shard next to $(ls -d shards.out.tmp.* 2>/dev/null | wc -l) stale temporary directories" \
		"$BIN" shard ref.lutdb shards.out --count 4 --quiet
	check "that shard set verifies" set_ok shards.out
	rm -rf shards.out shards.out.tmp.*
	"$BIN" shard ref.lutdb shards.int --count 4 --quiet 2>"$T/sig.err" &
	pid=$!
	sleep "$(awk -v d="$sdur" 'BEGIN { printf "%.3f", d * 0.3 }')"
	kill -INT $pid
	wait $pid
	rc=$?
	if [ $rc -eq 130 ]; then
		pass "SIGINT during shard: exit 130"
		check "SIGINT during shard: no OUTDIR, no temporary directory" \
			test ! -e shards.int -a -z "$(ls -d shards.int.tmp.* 2>/dev/null)"
	elif [ $rc -eq 0 ]; then
		pass "SIGINT during shard: it had finished (exit 0) before the signal; the set is complete"
		check "the set verifies" set_ok shards.int
	else
		fail "SIGINT during shard: exit $rc" "$(cat "$T/sig.err")"
	fi
}

if "$BIN" shard --help >/dev/null 2>&1; then
	shard_crash_tests
fi

e2e_finish
