#!/usr/bin/env bash
# tests/lint/layers.sh BUILD ROOM=USES... - the dependency rule on symbols.
#
# Run by every build (Makefile, $(BUILD)/layers.ok).  Each argument is a room
# and the folders it may use, as the Makefile's USES_<room> says.  The
# compiler already refuses an include across the rule; this checks what the
# objects actually reference, so a hand-written prototype cannot get round it:
#   - a symbol that room R's objects use and that some library room defines
#     must be defined in R itself or in a room R lists, or be an exported
#     function (declared LUTDB_API in a public header) of a component whose
#     face (format, lutdb, runtime) R lists;
#   - no source includes by a path ("../x.h", "dir/x.h"): every include is a
#     bare name found through the room's folders;
#   - the shared library exports exactly the functions declared LUTDB_API in
#     the installed headers.
# Prints each violation and exits 1 when there is one.
set -u
BUILD=$1
shift
cd "$(dirname "$0")/../.."
bad=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Global definitions of every library room: "symbol room" lines.
for spec in "$@"; do
	room=${spec%%=*}
	for o in "$BUILD"/obj/"$room"/*.o; do
		[ -e "$o" ] || continue
		nm --defined-only -g "$o" | awk -v r="$room" 'NF == 3 {print $3, r}'
	done
done | sort -u >"$tmp/defs"

# Exported symbols of the shared library, and what the public headers declare.
nm -D --defined-only "$BUILD/liblutdb.so" | awk '$2 ~ /^[TDBRW]$/ {print $3}' | sort -u >"$tmp/exported"
grep -h -o '^LUTDB_API [^(]*(' format/lutdb_*.h lutdb/lutdb.h runtime/lutdb_*.h |
	sed 's/($//; s/.*[ *]//' | sort -u >"$tmp/declared"
if ! cmp -s "$tmp/exported" "$tmp/declared"; then
	echo "layers: liblutdb.so exports other functions than the public headers declare:"
	comm -23 "$tmp/exported" "$tmp/declared" | sed 's/^/  exported, not declared: /'
	comm -13 "$tmp/exported" "$tmp/declared" | sed 's/^/  declared, not exported: /'
	bad=1
fi

for spec in "$@"; do
	room=${spec%%=*}
	uses=" ${spec#*=} "
	# Includes by path.
	if grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*/' "$room"/*.[ch] 2>/dev/null; then
		echo "layers: $room includes by path (use a bare name and the room's USES)"
		bad=1
	fi
	for o in "$BUILD"/obj/"$room"/*.o; do
		[ -e "$o" ] || continue
		nm -u "$o" | awk '{print $NF}'
	done | sort -u >"$tmp/undef"
	join "$tmp/undef" "$tmp/defs" >"$tmp/used"
	while read -r sym from; do
		[ "$from" = "$room" ] && continue
		case $uses in *" $from "*) continue ;; esac
		face=${from%%/*}
		if [[ $uses == *" $face "* ]] && grep -qx "$sym" "$tmp/exported"; then
			continue
		fi
		echo "layers: $room uses $sym from $from, which its USES do not allow"
		bad=1
	done <"$tmp/used"
done
[ $bad -eq 0 ] || { echo "layers: the dependency rule is broken (spec/ARCHITECTURE.md)"; exit 1; }
