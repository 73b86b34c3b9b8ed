#!/usr/bin/env python3
"""make_corpus.py OUTDIR [FORTUNE_DIR] - the demo corpus from Debian's fortunes.

Reads every regular file of FORTUNE_DIR (default /usr/share/games/fortunes)
that is a plain-text fortune file: not a .dat index, not a symlink (the .u8
names are symlinks to the same files), sorted by name.  Each file is split on
lines that are exactly "%"; a fortune is the text between two separators,
with overstrike sequences (X BACKSPACE Y, used for underline and bold in a
few files) reduced to Y, trailing whitespace removed from each line and
leading/trailing blank lines dropped.  Exact duplicates are kept once (first
occurrence), so a fortune never sits on both sides of the split.

Split: fortune number i (0-based, over the deduplicated list) is held out
when i % 20 == 19, so 5% are held out, deterministically.

Writes
  OUTDIR/train.jsonl, OUTDIR/heldout.jsonl   one JSON string per line (a document)
  OUTDIR/train.txt                           train documents joined by a blank
                                             line (the tokenizer's training text)
Only the Python standard library is needed.
"""
import json
import os
import re
import sys

HOLDOUT_EVERY = 20

def fortunes(path):
    with open(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8", errors="replace")
    text = text.replace("\r\n", "\n")
    docs, cur = [], []
    for line in text.split("\n"):
        if line == "%":
            docs.append(cur)
            cur = []
        else:
            cur.append(line)
    docs.append(cur)
    out = []
    for lines in docs:
        lines = [re.sub(r"[^\n]\x08", "", ln).replace("\x08", "").rstrip() for ln in lines]
        while lines and not lines[0].strip():
            lines.pop(0)
        while lines and not lines[-1].strip():
            lines.pop()
        if lines:
            out.append("\n".join(lines))
    return out

def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_corpus.py OUTDIR [FORTUNE_DIR]")
    outdir = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/games/fortunes"
    names = sorted(n for n in os.listdir(src)
                   if not n.endswith(".dat") and not os.path.islink(os.path.join(src, n))
                   and os.path.isfile(os.path.join(src, n)))
    seen, docs, per_file = set(), [], []
    for n in names:
        fs = fortunes(os.path.join(src, n))
        kept = 0
        for d in fs:
            if d not in seen:
                seen.add(d)
                docs.append(d)
                kept += 1
        per_file.append("%s:%d" % (n, kept))
    train = [d for i, d in enumerate(docs) if i % HOLDOUT_EVERY != HOLDOUT_EVERY - 1]
    held = [d for i, d in enumerate(docs) if i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1]
    os.makedirs(outdir, exist_ok=True)
    for name, part in (("train", train), ("heldout", held)):
        with open(os.path.join(outdir, name + ".jsonl"), "w", encoding="utf-8") as f:
            for d in part:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(os.path.join(outdir, "train.txt"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(train) + "\n")
    print("make_corpus: %d files, %d fortunes (%d duplicates dropped): train %d (%d chars), held-out %d (%d chars)"
          % (len(names), len(docs), sum(len(fortunes(os.path.join(src, n))) for n in names) - len(docs),
             len(train), sum(map(len, train)), len(held), sum(map(len, held))), file=sys.stderr)

if __name__ == "__main__":
    main()
