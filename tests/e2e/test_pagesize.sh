#!/usr/bin/env bash
# Larger OS page sizes (spec/FORMAT.md: format 1 has 4096-byte pages, whatever
# the OS page).  Some arm64 kernels use 16 KiB or 64 KiB pages, and LMDB
# writes a new file with the OS page size (sysconf(_SC_PAGESIZE), capped at
# 32 KiB).  Under an LD_PRELOAD shim that reports 16384 or 65536
# (pagesize_shim.c; the real pages stay 4 KiB, which a map of 4 KiB-page
# files does not depend on):
#   - a 4 KiB-page file reads as before: verify, info, and the same greedy ids;
#   - pack, shard, merge and quantize fail with one clear error (exit 3)
#     and leave neither OUT nor a temporary file, instead of writing a file
#     with LMDB's larger pages that every reader refuses;
#   - every madvise hint is on an OS page: the shim also aligns maps to the
#     large page and refuses a madvise elsewhere with EINVAL, as such a
#     kernel does, and logs each call (the reader's row prefetch was
#     aligned to the file's 4 KiB pages: 11 and 13 of 33 calls refused).
. "$(dirname "$0")/lib.sh"
e2e_init pagesize
cd "$T" || exit 1
SRC=$LUTDB_FIXTURES/mole_train_f32/ckpt
CC=${CC:-cc}

expect_ok "build the page-size shim" "$CC" -shared -fPIC -O2 -o shim.so "$E2E_ROOT/tests/e2e/pagesize_shim.c" -ldl
expect_ok "pack with this machine's pages" lutdb pack "$SRC" good.lutdb --quiet
expect_ok "greedy ids, this machine's pages" lutdb run good.lutdb --prompt-ids 1,2,3 -n 6 --greedy --quiet
ids=$(tail -n 1 <<<"$E2E_LAST_OUT")
expect_ok "shard with this machine's pages" lutdb shard good.lutdb shards --count 2 --quiet

no_out() { # DESC OUT
	if [ -e "$2" ]; then
		fail "$1: $2 exists"
	elif [ -n "$(find "$T" -name '*.tmp.*' 2>/dev/null)" ]; then
		fail "$1: temporary file left: $(find "$T" -name '*.tmp.*')"
	else
		pass "$1: no OUT, no temporary file"
	fi
}

for ps in 16384 65536; do
	fake() { LD_PRELOAD="$T/shim.so" LUTDB_FAKE_PAGESIZE=$ps "$@"; }
	check "the shim reports $ps (getconf PAGESIZE)" test "$(fake getconf PAGESIZE)" = "$ps"
	expect_ok "[$ps] verify a 4 KiB-page file" fake "$LUTDB_BIN" verify good.lutdb
	expect_ok "[$ps] info of a 4 KiB-page file" fake "$LUTDB_BIN" info good.lutdb
	expect_ok "[$ps] verify a 4 KiB-page shard set" fake "$LUTDB_BIN" verify shards/manifest.json
	expect_ok "[$ps] greedy ids of a 4 KiB-page file" fake "$LUTDB_BIN" run good.lutdb --prompt-ids 1,2,3 -n 6 \
		--greedy --quiet
	check "[$ps] the same ids as with 4 KiB pages" test "$(tail -n 1 <<<"$E2E_LAST_OUT")" = "$ids"
	# madvise: the row prefetch of a decode (MADV_WILLNEED, 3) and verify's
	# whole-file hint (MADV_SEQUENTIAL, 2), each on an OS page
	rm -f madv$ps.log
	expect_ok "[$ps] greedy ids, madvise logged" env LUTDB_FAKE_MADVISE_LOG="$T/madv$ps.log" \
		LD_PRELOAD="$T/shim.so" LUTDB_FAKE_PAGESIZE=$ps "$LUTDB_BIN" run good.lutdb --prompt-ids 1,2,3 -n 6 \
		--greedy --quiet
	expect_ok "[$ps] verify, madvise logged" env LUTDB_FAKE_MADVISE_LOG="$T/madv$ps.log" \
		LD_PRELOAD="$T/shim.so" LUTDB_FAKE_PAGESIZE=$ps "$LUTDB_BIN" verify good.lutdb
	nwill=$(grep -c '^madvise 3 ok$' madv$ps.log 2>/dev/null)
	nseq=$(grep -c '^madvise 2 ok$' madv$ps.log 2>/dev/null)
	nbad=$(grep -vc ' ok$' madv$ps.log 2>/dev/null)
	check "[$ps] the row prefetch's hints were given and taken ($nwill)" test "${nwill:-0}" -gt 0
	check "[$ps] verify's whole-file hint was taken ($nseq)" test "${nseq:-0}" -gt 0
	check "[$ps] no madvise refused: $nbad of $(grep -c '' madv$ps.log 2>/dev/null) (EINVAL: not on an OS page)" \
		test "${nbad:-1}" -eq 0
	expect_fail "[$ps] pack: one clear error" 3 "format 1 needs 4096-byte pages" \
		fake "$LUTDB_BIN" pack "$SRC" p$ps.lutdb --quiet
	no_out "[$ps] pack" p$ps.lutdb
	expect_fail "[$ps] shard: one clear error" 3 "format 1 needs 4096-byte pages" \
		fake "$LUTDB_BIN" shard good.lutdb s$ps --count 2 --quiet
	no_out "[$ps] shard" s$ps
	expect_fail "[$ps] merge: one clear error" 3 "format 1 needs 4096-byte pages" \
		fake "$LUTDB_BIN" merge shards/manifest.json m$ps.lutdb --quiet
	no_out "[$ps] merge" m$ps.lutdb
	expect_fail "[$ps] quantize: one clear error" 3 "format 1 needs 4096-byte pages" \
		fake "$LUTDB_BIN" quantize good.lutdb q$ps.lutdb --table-dtype q8_0 --quiet
	no_out "[$ps] quantize" q$ps.lutdb
done
e2e_finish
