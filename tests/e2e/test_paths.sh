#!/usr/bin/env bash
# tests/e2e/test_paths.sh - what the commands open, read, write and replace
# (README, "Files and paths"; spec/SECURITY.md, "Paths").
#
#  1. OUT that is not a regular file: pack, merge, shard, export onto a
#     device node, a FIFO, a socket, a directory, a symbolic link.  Refused
#     with one line (a link: exit 2; anything else: exit 5) and left as it
#     was; no temporary file left.
#  2. Inputs that are not regular files: a FIFO, a device, a directory as
#     the database, the manifest, a shard, a checkpoint file, --tokenizer,
#     --prompt-file, --ids, --text.  Refused at once (every command runs
#     under a timeout: a hang fails), with the code of that input: a path
#     typed on the command line 2, a file inside a checkpoint 3, a shard 4.
#     A shard linked from outside the manifest's directory: 4.
#  3. stdout on /dev/full for every command: exit 5 and one line where the
#     command prints, exit 0 where it prints nothing.
#  4. Reservations: `shard --count 1500` of a small database on a 256 MiB
#     tmpfs (in a mount namespace; skipped where none may mount it) and
#     300 shards with 32 file descriptors, and shard, merge and pack under a file
#     size limit.
#  5. Trailing bytes: a database with 1 MiB of junk appended fails open and
#     verify (4).
. "$(dirname "$0")/lib.sh"
e2e_init paths
cd "$T" || exit 1
F=$LUTDB_FIXTURES
DEMO=$E2E_ROOT/tests/demo
SRC=$F/mole_rep_f16/ckpt
# The CLI under a timeout: every command here must return at once, and a
# FIFO that hangs one fails it (lib.sh's lutdb is a function, which
# timeout cannot run).  20 s natively, scaled under qemu.
tl() {
	if [ -n "${LUTDB_VALGRIND:-}" ]; then
		timeout 300 valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
			"$LUTDB_BIN" "$@"
	else
		timeout "$(scaled 20)" "$LUTDB_BIN" "$@"
	fi
}
TO=tl
# CMD with stdout on /dev/full, or closed (capture in lib.sh redirects
# stdout itself, so the redirection goes inside).
to_full() { "$@" >/dev/full; }
to_closed() { "$@" >&-; }

expect_ok "pack the reference database" lutdb pack "$SRC" good.lutdb --quiet --threads 2
demo_mole "pack the demo MoLE (with its tokenizer)" text.lutdb

type_is() { # DESC PATH TYPE (find -type letter)
	check "$1" test -n "$(find "$2" -maxdepth 0 -type "$3" 2>/dev/null)"
}
no_tmp() { # DESC
	local left
	left=$(find "$T" -name '*.tmp.*' 2>/dev/null)
	[ -z "$left" ] && pass "$1: no temporary file" || fail "$1: temporary file left: $left"
}
mksock() {
	"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"
}

# ---- 1. outputs ----------------------------------------------------------------------
mkfifo out.fifo
mksock out.sock
mkdir out.dir
echo keep >target.txt
ln -s target.txt out.link
ln -s out.dir dir.link
ln -s absent out.dangling
if mknod out.null c 1 3 2>/dev/null; then
	for cmd in "pack $SRC" "merge good.lutdb"; do
		expect_fail "${cmd%% *} onto a character device" 5 "is a character device, not a regular file" \
			$TO $cmd out.null --quiet
		type_is "${cmd%% *} left the device node a device" out.null c
	done
	expect_fail "shard onto a character device" 5 "is a character device, not a directory" \
		$TO shard good.lutdb out.null --count 2 --quiet
	expect_fail "export onto a character device" 5 "is a character device, not a directory" \
		$TO export good.lutdb out.null --quiet
	type_is "shard and export left the device node a device" out.null c
else
	skip "OUT a character device" "mknod is not allowed here (needs CAP_MKNOD); FIFOs and sockets stand in"
fi
for cmd in "pack $SRC" "merge good.lutdb"; do
	c=${cmd%% *}
	expect_fail "$c onto a FIFO" 5 "is a FIFO, not a regular file" $TO $cmd out.fifo --quiet
	type_is "$c left the FIFO a FIFO" out.fifo p
	expect_fail "$c onto a socket" 5 "is a socket, not a regular file" $TO $cmd out.sock --quiet
	type_is "$c left the socket a socket" out.sock s
	expect_fail "$c onto a directory" 5 "is a directory, not a regular file" $TO $cmd out.dir --quiet
	type_is "$c left the directory a directory" out.dir d
	expect_fail "$c onto a symbolic link" 2 "is a symbolic link" $TO $cmd out.link --quiet
	type_is "$c left the link a link" out.link l
	check "$c wrote nothing through the link" test "$(cat target.txt)" = keep
	expect_fail "$c onto a dangling symbolic link" 2 "is a symbolic link" $TO $cmd out.dangling --quiet
	type_is "$c left the dangling link" out.dangling l
	check "$c created nothing where the dangling link points" test ! -e absent
done
expect_fail "pack into shards onto a FIFO" 5 "is a FIFO, not a directory" \
	$TO pack "$SRC" out.fifo --count 2 --quiet
expect_fail "shard onto a FIFO" 5 "is a FIFO, not a directory" $TO shard good.lutdb out.fifo --count 2 --quiet
expect_fail "shard onto a symbolic link to a directory" 2 "is a symbolic link" \
	$TO shard good.lutdb dir.link --count 2 --quiet
expect_fail "shard onto 'LINK/'" 2 "is a symbolic link" $TO shard good.lutdb dir.link/ --count 2 --quiet
expect_fail "export into a symbolic link to a directory" 2 "is a symbolic link" \
	$TO export good.lutdb dir.link --quiet
expect_fail "export onto a FIFO" 5 "is a FIFO, not a directory" $TO export good.lutdb out.fifo --quiet
check "out.dir is still empty" test -z "$(ls -A out.dir)"
type_is "the FIFO is still a FIFO" out.fifo p
no_tmp "refused outputs"
expect_ok "pack replaces a regular file" lutdb pack "$SRC" good2.lutdb --quiet
expect_ok "and again" lutdb pack "$SRC" good2.lutdb --quiet

# ---- 2. inputs -------------------------------------------------------------------------
mkfifo in.fifo
for cmd in "info" "verify" "get --layer 0 --token 0 --" "export" "run --prompt-ids 1 --" "eval --ids in.ids --" \
	"tokenize" "detokenize"; do
	c=${cmd%% *}
	extra=
	case $c in export) extra=exp.out ;; tokenize) extra=hi ;; detokenize) extra=1 ;; esac
	expect_fail "$c of a FIFO" 2 "in.fifo: not a regular file (a FIFO)" $TO $cmd in.fifo $extra
done
expect_fail "shard of a FIFO" 2 "not a regular file (a FIFO)" $TO shard in.fifo s.out --count 2
expect_fail "merge of a FIFO" 2 "not a regular file (a FIFO)" $TO merge in.fifo m.out
expect_fail "info of /dev/zero" 2 "not a regular file (a character device)" $TO info /dev/zero
expect_fail "verify of a directory" 2 "not a regular file (a directory)" $TO verify out.dir

# Shards named by a manifest: a damaged shard set, 4.
expect_ok "shard the reference database" lutdb shard good.lutdb set --count 3 --quiet
S2=set/model-00002-of-00003.lutdb
mv "$S2" saved.lutdb
for kind in fifo dir dev; do
	case $kind in fifo) mkfifo "$S2" ;; dir) mkdir "$S2" ;; dev) ln -s /dev/zero "$S2" ;; esac
	expect_fail "a shard that is a $kind" 4 "not a regular file" $TO info set/manifest.json
	rm -rf "$S2"
done
ln -s "$T/saved.lutdb" "$S2"
expect_fail "a shard linked from outside the manifest's directory" 4 "outside the manifest's directory" \
	$TO verify set/manifest.json
rm "$S2"
mv saved.lutdb set/real.lutdb
ln -s real.lutdb "$S2"
expect_ok "a shard linked inside the manifest's directory" lutdb verify set/manifest.json
rm "$S2"
mv set/real.lutdb "$S2"
rm set/manifest.json
mkfifo set/manifest.json
expect_fail "a manifest that is a FIFO" 2 "not a regular file (a FIFO)" $TO info set/manifest.json

# Checkpoint files: a bad checkpoint, 3.
for f in config.json model.safetensors generation_config.json tokenizer.json model.safetensors.index.json; do
	for kind in fifo dir; do
		ckpt_copy mole_rep_f16 "c_$kind"
		rm -f "c_$kind/$f"
		case $kind in fifo) mkfifo "c_$kind/$f" ;; dir) mkdir "c_$kind/$f" ;; esac
		expect_fail "pack: $f is a $kind" 3 "$f: not a regular file" \
			$TO pack "c_$kind" o.lutdb --quiet --threads 2
	done
done
ckpt_copy mole_rep_f16 c_dev
rm c_dev/model.safetensors
ln -s /dev/zero c_dev/model.safetensors
expect_fail "pack: model.safetensors is /dev/zero" 3 "not a regular file (a character device)" \
	$TO pack c_dev o.lutdb --quiet --threads 2
no_output "pack of checkpoints with such files" "$T/o.lutdb"

# Paths typed on the command line: a bad argument, 2.
expect_fail "pack --tokenizer FIFO" 2 "in.fifo: not a regular file (a FIFO)" \
	$TO pack "$SRC" o.lutdb --tokenizer in.fifo --quiet
expect_fail "pack --tokenizer a directory" 2 "not a regular file (a directory)" \
	$TO pack "$SRC" o.lutdb --tokenizer out.dir --quiet
expect_fail "run --prompt-file FIFO" 2 "not a regular file (a FIFO)" \
	$TO run text.lutdb --prompt-file in.fifo -n 1 --quiet
expect_fail "run --prompt-file /dev/zero (refused at once, not after 1 GiB)" 2 "a character device" \
	$TO run text.lutdb --prompt-file /dev/zero -n 1 --quiet
expect_fail "eval --ids FIFO" 2 "not a regular file (a FIFO)" $TO eval good.lutdb --ids in.fifo --quiet
expect_fail "eval --text /dev/urandom" 2 "a character device" $TO eval text.lutdb --text /dev/urandom --quiet
expect_fail "eval --ids a directory" 2 "not a regular file (a directory)" $TO eval good.lutdb --ids out.dir
echo "1, 2, 3, 4" >ids.txt
expect_ok "eval --ids a regular file" lutdb eval good.lutdb --ids ids.txt --quiet --threads 1
check "eval --ids - reads a pipe" test "$(echo 1 2 3 4 | lutdb eval good.lutdb --ids - --quiet --threads 1)" = \
	"$(lutdb eval good.lutdb --ids ids.txt --quiet --threads 1)"
check "run --prompt - reads a pipe" test -n "$(echo A programmer | lutdb run text.lutdb --prompt - -n 2 --quiet)"

# ---- 3. stdout on /dev/full ---------------------------------------------------------------
full() { # DESC ARGS... : lutdb ARGS with stdout on /dev/full: exit 5, "stdout: write error"
	local desc=$1
	shift
	expect_fail "$desc > /dev/full" 5 "stdout: write error" to_full tl "$@"
}
echo "A programmer" >prompt.txt
full "info" info good.lutdb
full "info --json" info good.lutdb --json
full "get" get good.lutdb --layer 0 --token 1
full "get --json" get good.lutdb --layer 0 --token 1 --json
full "get --raw" get good.lutdb --layer 0 --token 1 --raw
full "verify" verify good.lutdb --quiet
full "run --prompt-ids" run good.lutdb --prompt-ids 1,2 -n 2 --quiet --threads 1
full "run --prompt" run text.lutdb --prompt "A programmer" -n 2 --quiet --threads 1
full "run --prompt-file" run text.lutdb --prompt-file prompt.txt -n 2 --quiet --threads 1
full "eval --ids" eval good.lutdb --ids ids.txt --quiet --threads 1
full "eval --text" eval text.lutdb --text prompt.txt --quiet --threads 1
full "tokenize" tokenize text.lutdb "A programmer"
full "detokenize" detokenize text.lutdb 65,1919
full "--version" --version
full "--help" --help
full "info --help" info --help
# The commands that print nothing on stdout succeed whatever it is.
expect_ok "pack with stdout on /dev/full" to_full tl pack "$SRC" full.lutdb --quiet
expect_ok "shard with stdout on /dev/full" to_full tl shard good.lutdb full.set --count 2 --quiet
expect_ok "merge with stdout on /dev/full" to_full tl merge full.set/manifest.json full2.lutdb --quiet
expect_ok "export with stdout on /dev/full" to_full tl export good.lutdb full.exp --quiet
# A closed stdout: an error only for a command that prints.
expect_fail "info with stdout closed" 5 "stdout: write error" to_closed tl info good.lutdb
expect_ok "pack with stdout closed" to_closed tl pack "$SRC" closed.lutdb --quiet

# ---- 4. what the writers reserve -----------------------------------------------------------
"$LUTDB_BUILD/tests/tools/gen_model" db small.lutdb --vocab 4096 --hidden 128 --layers 2 --experts 2 --inter 256 \
	--heads 2 >/dev/null || fail "gen_model db"
mkdir big
ns=
for opt in -m -rm; do
	if unshare $opt sh -c 'mount -t tmpfs -o size=1m tmpfs "$1"' sh big 2>/dev/null; then
		ns=$opt
		break
	fi
done
if [ -n "$ns" ]; then
	# 7 MB into 1500 shards takes about 45 MB on disk; before, each shard
	# reserved 64 MiB more than it holds (96 GB in all).
	expect_ok "shard --count 1500 of a 7 MB database on a 256 MiB tmpfs (unshare $ns)" \
		unshare $ns sh -c 'mount -t tmpfs -o size=256m tmpfs big || exit 99
			"$0" shard small.lutdb big/set --count 1500 --quiet || exit $?
			"$0" verify big/set/manifest.json --quiet' "$LUTDB_BIN"
else
	skip "shard --count 1500 on a small tmpfs" \
		"no mount namespace may mount a tmpfs here (unshare -m, unshare -rm); the file size limit below stands in"
fi
# A token split holds one shard open at a time: 300 shards need neither
# 300 reservations at once nor 600 file descriptors.
expect_ok "shard --count 300 with 32 file descriptors" \
	bash -c 'ulimit -n 32; exec "$0" shard small.lutdb many.set --count 300 --quiet' "$LUTDB_BIN"
expect_ok "those 300 shards verify" lutdb verify many.set/manifest.json --quiet
check "and merge back to the database's digest" test "$(lutdb merge many.set/manifest.json many.lutdb --quiet &&
	lutdb info many.lutdb --json | grep '"digest"')" = "$(lutdb info small.lutdb --json | grep '"digest"')"
rm -rf many.set many.lutdb
# A file size limit: a writer refuses a reservation above it up front.
expect_ok "shard --count 40 under a 4 MiB file size limit" \
	bash -c 'ulimit -f 4096; exec "$0" shard small.lutdb lim.set --count 40 --quiet' "$LUTDB_BIN"
expect_ok "merge of those shards (7 MB) under a 16 MiB limit" \
	bash -c 'ulimit -f 16384; exec "$0" merge lim.set/manifest.json lim.lutdb --quiet' "$LUTDB_BIN"
expect_ok "pack of the reference checkpoint (0.5 MB) under a 4 MiB limit" \
	bash -c 'ulimit -f 4096; exec "$0" pack "$1" lim2.lutdb --quiet --threads 2' "$LUTDB_BIN" "$SRC"
expect_ok "pack straight into 40 shards under a 4 MiB limit" \
	bash -c 'ulimit -f 4096; exec "$0" pack "$1" lim3.set --count 40 --quiet --threads 2' "$LUTDB_BIN" "$SRC"
expect_fail "merge under a 4 MiB limit (the 7 MB file needs more)" 5 "file size limit" \
	bash -c 'ulimit -f 4096; exec "$0" merge lim.set/manifest.json lim4.lutdb --quiet' "$LUTDB_BIN"
no_output "merge under too small a limit" "$T/lim4.lutdb"

# ---- 5. trailing bytes ------------------------------------------------------------------------
cp good.lutdb junk.lutdb
head -c 1048576 /dev/urandom >>junk.lutdb
expect_fail "verify a database with 1 MiB appended" 4 "1048576 bytes follow the last page" lutdb verify junk.lutdb
expect_fail "info of it" 4 "(trailing bytes)" lutdb info junk.lutdb
cp good.lutdb one.lutdb
printf 'x' >>one.lutdb
expect_fail "verify a database with one byte appended" 4 "1 bytes follow the last page" lutdb verify one.lutdb
lutdb shard good.lutdb set2 --count 3 --quiet
head -c 4096 /dev/zero >>set2/model-00003-of-00003.lutdb
expect_fail "a shard with a page appended" 4 "follow the last page" lutdb verify set2/manifest.json

e2e_finish
