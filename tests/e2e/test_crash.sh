#!/usr/bin/env bash
# tests/e2e/test_crash.sh - crash safety of the writers.
#
#  1. 20 runs of `lutdb pack` killed with SIGKILL (half of them replacing an
#     existing OUT): OUT is then absent, or the old file untouched, or a
#     complete new file that verifies.  The kill instants are spread evenly
#     over the pack's measured duration (one random instant in each of 20
#     equal slices), and the test requires that kills landed mid-write both
#     with and without an existing OUT (OUT absent or old, and a stale
#     temporary file left by that kill), so it cannot pass with every kill
#     too early or too late.  The stale temporary files never confuse the
#     next pack, which succeeds and verifies.
#  2. SIGINT, SIGTERM and SIGHUP during pack, sent once the temporary file
#     exists: exit 130, no OUT (an existing OUT untouched), no temporary
#     file left.
#  3. Disk full: a small tmpfs (in a mount namespace; skipped, and said so,
#     where no namespace may mount it), and a file size limit: one clear
#     line, exit 5, no OUT, no temporary file.
#  4. Reading from a read-only directory (a read-only bind mount, else an
#     immutable directory, else, not as root, a directory without write
#     permission; the read-only checks are skipped, and said so, where none
#     of these works): info, verify, get, run work, no lock file appears,
#     pack into it fails cleanly.
#  5. `lutdb shard`: 20 SIGKILLs spread the same way, OUTDIR absent or
#     complete, some of them mid-write (OUTDIR absent, a stale temporary
#     directory left); SIGINT once the temporary directory exists gives 130
#     and no OUTDIR.
# The checkpoint is made by gen_model, sized so that a pack takes about a
# second of CPU.  Quick mode (qemu, where that pack takes minutes): a
# checkpoint with 1/64 of the pack's arithmetic (about 5 s under qemu, the
# temporary file there from 0.2 s on) and 12 kills of each kind instead of
# 20; every kind of kill and signal still lands.
. "$(dirname "$0")/lib.sh"
e2e_init crash
cd "$T" || exit 1
GEN=$LUTDB_BUILD/tests/tools/gen_model
RUNS=${CRASH_RUNS:-$([ "$E2E_QUICK" = 1 ] && echo 12 || echo 20)}
# Crash timing needs the real binary, not memcheck.
BIN=$LUTDB_BIN

if [ ! -x "$GEN" ]; then
	fail "gen_model missing ($GEN): make tests-build"
	e2e_finish
fi
# LIM_MB: the tmpfs and file size limit of part 3, about half the output.
VOCAB=4096 LIM_MB=16
if [ "$E2E_QUICK" = 1 ]; then
	VOCAB=1024 LIM_MB=1
	"$GEN" ckpt src --vocab $VOCAB --hidden 64 --layers 4 --experts 2 --inter 256 --heads 2 >/dev/null
else
	"$GEN" ckpt src --vocab $VOCAB --hidden 256 --layers 4 --experts 4 --inter 1024 --heads 4 >/dev/null
fi || fail "gen_model ckpt"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { d = b - a; printf "%.3f", d < 0.2 ? 0.2 : d }'; }
# Kill instant of run I of N: a random point in the I-th of N equal slices of
# [0, SPAN) seconds, so the instants cover the whole span whatever the draw.
slice_delay() {
	awk -v i="$1" -v n="$2" -v m="$3" -v r="$RANDOM$RANDOM" 'BEGIN { srand(r); printf "%.3f", (i - 1 + rand()) / n * m }'
}
# wait_for PATTERN PID LIMIT: 0 once a file matching the glob PATTERN exists,
# 1 if PID ended first or LIMIT seconds passed (a zombie child still answers
# kill -0, so the limit ends the wait).
wait_for() {
	local n=0 max
	max=$(awk -v l="$3" 'BEGIN { printf "%d", l * 200 }')
	while kill -0 "$2" 2>/dev/null && [ $n -lt "$max" ]; do
		compgen -G "$1" >/dev/null && return 0
		sleep 0.005
		n=$((n + 1))
	done
	compgen -G "$1" >/dev/null
}

# The pack's duration, measured twice: the shorter one, so that a burst of
# load during one measurement does not push every kill to the pack's start.
t0=$(now)
expect_ok "reference pack" "$BIN" pack src ref.lutdb --quiet --threads 2
DUR=$(since "$t0")
t0=$(now)
expect_ok "timing pack" "$BIN" pack src timing.lutdb --quiet --threads 2
DUR=$(awk -v a="$DUR" -v b="$(since "$t0")" 'BEGIN { print a < b ? a : b }')
rm -f timing.lutdb
echo "     (a pack takes ${DUR}s here)"
expect_ok "reference verifies" lutdb verify ref.lutdb

# ---- 1. SIGKILL ------------------------------------------------------------------
# Each kill lands before the temporary file exists (early), while it is
# written (mid: a stale temporary file is left), or after the rename
# (complete).
absent_early=0 absent_mid=0 old_early=0 old_mid=0 complete=0 bad=0
span=$(awk -v d="$DUR" 'BEGIN { print d * 1.15 }')
for i in $(seq 1 "$RUNS"); do
	replace=$((i % 2))
	rm -f out.lutdb
	[ $replace -eq 1 ] && cp ref.lutdb out.lutdb
	before=$(tmp_files_of "$T/out.lutdb" | wc -l)
	d=$(slice_delay "$i" "$RUNS" "$span")
	"$BIN" pack src out.lutdb --quiet --threads 2 2>/dev/null &
	pid=$!
	sleep "$d"
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	left=$(($(tmp_files_of "$T/out.lutdb" | wc -l) - before))
	if [ ! -e out.lutdb ]; then
		if [ $replace -eq 1 ]; then
			bad=$((bad + 1))
			fail "kill #$i at ${d}s: the existing OUT disappeared"
		elif [ $left -gt 0 ]; then
			absent_mid=$((absent_mid + 1))
		else
			absent_early=$((absent_early + 1))
		fi
	elif [ $replace -eq 1 ] && cmp -s out.lutdb ref.lutdb; then
		if [ $left -gt 0 ]; then
			old_mid=$((old_mid + 1))
		else
			old_early=$((old_early + 1))
		fi
	elif "$BIN" verify out.lutdb >/dev/null 2>"$T/verify.err"; then
		complete=$((complete + 1))
	else
		bad=$((bad + 1))
		fail "kill #$i at ${d}s: OUT exists and does not verify" "$(cat "$T/verify.err")"
	fi
done
stale=$(tmp_files_of "$T/out.lutdb" | wc -l)
counts="new OUT absent ($absent_early before the write, $absent_mid mid-write), old OUT intact ($old_early before"
counts="$counts the write, $old_mid mid-write), complete new OUT ($complete); $stale stale temporary files"
echo "     (kills over ${span}s: $counts)"
check "$RUNS SIGKILLs of pack: no damaged or missing OUT" test "$bad" -eq 0
check "some SIGKILLs landed mid-write with no OUT before ($absent_mid: OUT absent, a temporary file left)" \
	test "$absent_mid" -gt 0
check "some SIGKILLs landed mid-write over an existing OUT ($old_mid: old OUT intact, a temporary file left)" \
	test "$old_mid" -gt 0
rm -f out.lutdb
expect_ok "pack next to $stale stale temporary files" "$BIN" pack src out.lutdb --quiet --threads 2
expect_ok "that pack verifies" lutdb verify out.lutdb
check "the stale temporary files are still all there, none was reused" \
	test "$(tmp_files_of "$T/out.lutdb" | wc -l)" -eq "$stale"
cmp -s <(lutdb get out.lutdb --layer 3 --token $((VOCAB - 1)) --raw) \
	<(lutdb get ref.lutdb --layer 3 --token $((VOCAB - 1)) --raw) &&
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
		what="SIG$s during pack$([ $replace -eq 1 ] && echo ' over an existing OUT')"
		# Once the temporary file exists, so that its removal is what is checked.
		wait_for "$T/sig/.out.lutdb.tmp.*" $pid "$(awk -v d="$DUR" 'BEGIN { print 2 * d + 5 }')" ||
			fail "$what: no temporary file appeared before the signal"
		sleep "$(awk -v d="$DUR" 'BEGIN { printf "%.3f", d * 0.2 }')"
		kill -$s $pid
		wait $pid
		rc=$?
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
# A 16 MiB tmpfs (quick mode: 1 MiB) on small/, in a mount namespace of its own (unshare -m as
# root, else a user namespace, unshare -rm, where an ordinary user may mount
# one): the pack runs and small/ is listed inside it, as the mount ends with
# it.  Skipped where neither namespace allows the mount.
mkdir small
ns=
for opt in -m -rm; do
	if unshare $opt sh -c 'mount -t tmpfs -o size=1m tmpfs "$1"' sh small 2>/dev/null; then
		ns=$opt
		break
	fi
done
if [ -n "$ns" ]; then
	expect_fail "pack onto a full tmpfs ($LIM_MB MiB, unshare $ns)" 5 "no space left on device" \
		unshare $ns sh -c 'mount -t tmpfs -o size=$2m tmpfs small || exit 99
			"$0" pack src small/out.lutdb --quiet --threads 2; rc=$?
			ls -A small >"$1"; exit $rc' "$BIN" "$T/small.left" "$LIM_MB"
	check "pack onto a full tmpfs: no output, no temporary file, the tmpfs empty again ($(cat "$T/small.left"))" \
		test -f "$T/small.left" -a ! -s "$T/small.left"
else
	skip "pack onto a full tmpfs" \
		"no mount namespace may mount a tmpfs here (unshare -m, unshare -rm); the file size limit below stands in"
fi
# A file size limit: the preallocation fails (EFBIG), no SIGXFSZ kill.
expect_fail "pack under a $LIM_MB MiB file size limit (ulimit -f)" 5 "file size limit" \
	bash -c 'ulimit -f $(($1 * 1024)); exec "$0" pack src fsize.lutdb --quiet --threads 2' "$BIN" "$LIM_MB"
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
# Not root: the mode bits bind this user (root passes them, so only here).
if [ -z "$ro_mode" ] && [ "$(id -u)" -ne 0 ]; then
	[ -L ro ] || { rmdir ro 2>/dev/null; ln -s rosrc ro; }
	chmod a-w rosrc
	if touch ro/probe 2>/dev/null; then
		rm -f ro/probe
		chmod u+w rosrc
	else
		ro_mode="read-only directory (chmod a-w)"
	fi
fi
if [ -z "$ro_mode" ]; then
	ro_why="root, but neither a read-only bind mount nor chattr +i is permitted (no CAP_SYS_ADMIN,"
	ro_why="$ro_why CAP_LINUX_IMMUTABLE), and root passes mode bits"
	skip "reading from a read-only directory" "$ro_why; the reads run from a writable one"
	[ -L ro ] || { rmdir ro 2>/dev/null; ln -s rosrc ro; }
	ro_mode="writable directory"
fi
before=$(ls -A rosrc)
expect_ok "info from a $ro_mode" lutdb info ro/model.lutdb
expect_ok "verify from a $ro_mode" lutdb verify ro/model.lutdb
expect_ok "get from a $ro_mode" lutdb get ro/model.lutdb --layer 2 --token 100
expect_ok "run from a $ro_mode" lutdb run ro/model.lutdb --prompt-ids 1,2,3 -n 2 --threads 1 --quiet
check "no lock file or anything else appeared ($ro_mode)" test "$(ls -A rosrc)" = "$before"
if [ "$ro_mode" != "writable directory" ]; then
	expect_fail "pack into the $ro_mode fails cleanly" 5 "cannot create temporary file" \
		"$BIN" pack src ro/new.lutdb --quiet --threads 2
else
	skip "pack into a read-only directory fails cleanly" "$ro_why"
fi
mountpoint -q ro 2>/dev/null && umount ro
chattr -i rosrc 2>/dev/null
chmod u+w rosrc

# ---- 5. lutdb shard ------------------------------------------------------------------
# Complete shard set: the manifest opens and verifies.
set_ok() { "$BIN" verify "$1/manifest.json" >/dev/null 2>&1; }

t0=$(now)
expect_ok "reference shard (4 shards)" "$BIN" shard ref.lutdb shards.ref --count 4 --quiet
sdur=$(since "$t0")
check "the reference shard set verifies" set_ok shards.ref
t0=$(now)
expect_ok "timing shard" "$BIN" shard ref.lutdb shards.timing --count 4 --quiet
sdur=$(awk -v a="$sdur" -v b="$(since "$t0")" 'BEGIN { print a < b ? a : b }')
rm -rf shards.timing
echo "     (a shard takes ${sdur}s here)"
absent_early=0 absent_mid=0 complete=0 bad=0
span=$(awk -v d="$sdur" 'BEGIN { print d * 1.15 }')
for i in $(seq 1 "$RUNS"); do
	rm -rf shards.out
	before=$(compgen -G "shards.out.tmp.*" | wc -l)
	d=$(slice_delay "$i" "$RUNS" "$span")
	"$BIN" shard ref.lutdb shards.out --count 4 --by $([ $((i % 2)) -eq 0 ] && echo token || echo layer) \
		--quiet 2>/dev/null &
	pid=$!
	sleep "$d"
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	left=$(($(compgen -G "shards.out.tmp.*" | wc -l) - before))
	if [ ! -e shards.out ]; then
		if [ $left -gt 0 ]; then
			absent_mid=$((absent_mid + 1))
		else
			absent_early=$((absent_early + 1))
		fi
	elif set_ok shards.out; then
		complete=$((complete + 1))
	else
		bad=$((bad + 1))
		fail "shard kill #$i at ${d}s: OUTDIR exists and does not verify" "$(ls shards.out)"
	fi
done
stale=$(compgen -G "shards.out.tmp.*" | wc -l)
echo "     (kills over ${span}s: OUTDIR absent ($absent_early before the write, $absent_mid mid-write)," \
	"complete ($complete); $stale stale temporary directories)"
check "$RUNS SIGKILLs of lutdb shard: no damaged OUTDIR" test $bad -eq 0
check "some SIGKILLs of shard landed mid-write ($absent_mid: OUTDIR absent, a temporary directory left)" \
	test "$absent_mid" -gt 0
rm -rf shards.out
expect_ok "shard next to $stale stale temporary directories" "$BIN" shard ref.lutdb shards.out --count 4 --quiet
check "that shard set verifies" set_ok shards.out
rm -rf shards.out shards.out.tmp.*

# SIGINT once the temporary directory exists.  A shard that finishes between
# the look and the signal is tried again, up to three times.
interrupted=0
for try in 1 2 3; do
	rm -rf shards.int shards.int.tmp.*
	"$BIN" shard ref.lutdb shards.int --count 4 --quiet 2>"$T/sig.err" &
	pid=$!
	wait_for "shards.int.tmp.*" $pid "$(awk -v d="$sdur" 'BEGIN { print 2 * d + 5 }')"
	kill -INT $pid 2>/dev/null
	wait $pid
	rc=$?
	if [ $rc -eq 0 ]; then
		check "SIGINT during shard, try $try: it had finished first; its set is complete" set_ok shards.int
		continue
	fi
	interrupted=1
	if [ $rc -eq 130 ] && [ "$(grep -c '' "$T/sig.err")" -eq 1 ] && grep -q "interrupted" "$T/sig.err"; then
		pass "SIGINT during shard: exit 130 ($(cat "$T/sig.err"))"
	else
		fail "SIGINT during shard: exit $rc, expected 130 and one line saying interrupted" "$(cat "$T/sig.err")"
	fi
	check "SIGINT during shard: no OUTDIR, no temporary directory" \
		test ! -e shards.int -a -z "$(compgen -G "shards.int.tmp.*")"
	break
done
[ $interrupted -eq 1 ] ||
	skip "SIGINT during shard" "the shard finished before the signal in 3 tries (it is too fast to interrupt here)"

e2e_finish
