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

Extra training text (EXTRA_SOURCES below): other English text that Debian
ships under a free license, training only, with every document that shares
an 8-word run with a held-out fortune dropped.

Writes
  OUTDIR/train.jsonl, OUTDIR/heldout.jsonl   one JSON string per line (a document)
  OUTDIR/train.txt                           train documents joined by a blank
                                             line (the tokenizer's training text)
  OUTDIR/heldout.txt                         held-out documents joined by a blank
                                             line (127,525 characters; `lutdb eval --text`)
  OUTDIR/extra.jsonl                         the extra training documents
Only the Python standard library is needed.
"""
import json
import os
import re
import sys

HOLDOUT_EVERY = 20

# The 43 fortune files of Debian's `fortunes` and `fortunes-min` packages, in
# the order the split is defined on (sorted by name).  Fixed, so that other
# fortune packages installed into the same directory (fortune-anarchism,
# fortunes-bofh-excuses, ...) never change the frozen held-out split.
FORTUNE_FILES = (
    "art",
    "ascii-art",
    "computers",
    "cookie",
    "debian",
    "definitions",
    "disclaimer",
    "drugs",
    "education",
    "ethnic",
    "food",
    "fortunes",
    "goedel",
    "humorists",
    "kids",
    "knghtbrd",
    "law",
    "linux",
    "linuxcookie",
    "literature",
    "love",
    "magic",
    "medicine",
    "men-women",
    "miscellaneous",
    "news",
    "paradoxum",
    "people",
    "perl",
    "pets",
    "platitudes",
    "politics",
    "pratchett",
    "riddles",
    "science",
    "songs-poems",
    "sports",
    "startrek",
    "tao",
    "translate-me",
    "wisdom",
    "work",
    "zippy",
)

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

# ---------------------------------------------------------------------------
# Extra training text: other freely licensed English text that Debian ships.
# Training only, never held out; every extra document that shares an 8-word
# run with a held-out fortune is dropped (other fortune packages repeat
# fortunes, sometimes with another attribution or wrapping).

EXTRA_SOURCES = (
    # (name, Debian package, license, path, reader)
    ("anarchism", "fortune-anarchism", "public domain", "/usr/share/games/fortunes/anarchism", "fortune"),
    ("bofh-excuses", "fortunes-bofh-excuses", "public domain", "/usr/share/games/fortunes/bofh-excuses", "fortune"),
    ("epigrams", "tfortunes", "public domain", "/usr/share/games/tfortunes/epigrams/en.tfortunes", "tfortune"),
    ("jargon", "jargon-text", "public domain", "/usr/share/doc/jargon-text/jargon.txt.gz", "jargon"),
)
SHINGLE = 8
ASCII_PUNCT = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "--",
               "\u2026": "...", "\u00a0": " "}


def tfortunes(path):
    """tfortune records: text lines, then one line '---- tags'."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    out, cur = [], []
    for line in text.split("\n"):
        if line.startswith("---- ") or line == "----":
            doc = "\n".join(ln.rstrip() for ln in cur).strip("\n")
            if doc.strip():
                out.append(doc)
            cur = []
        else:
            cur.append(line)
    return out


def jargon(path):
    """The Jargon File's lexicon entries (between the glossary index and
    Appendix A), one document per entry: the 3-space indent removed,
    {cross references} unbraced, typographic quotes and dashes in ASCII,
    lines of box-drawing characters dropped."""
    import gzip
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    end = next(i for i, ln in enumerate(lines) if re.match(r"Appendix\sA\.", ln))
    entry = re.compile(r"^   :([^:]+(?::[^:\s][^:]*)*):(?: (.*))?$")
    start = next(i for i, ln in enumerate(lines) if entry.match(ln))
    out, cur = [], None

    def flush():
        if cur:
            doc = "\n".join(cur).strip("\n")
            if doc.strip():
                out.append(doc)
    for ln in lines[start:end]:
        m = entry.match(ln)
        if m:
            flush()
            cur = [(m.group(1) + ": " + (m.group(2) or "")).rstrip()]
            continue
        if re.search("[\u2500-\u257f]", ln):
            continue
        if len(cur) == 1 and not ln.strip():
            continue  # the blank line after the header
        ln = ln[3:] if ln.startswith("   ") else ln.lstrip()
        ln = re.sub(r"\{([^{}]*)\}", r"\1", ln)
        for k, v in ASCII_PUNCT.items():
            ln = ln.replace(k, v)
        cur.append(ln.rstrip())
    flush()
    return out


def words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def shingles(text):
    w = words(text)
    if len(w) < SHINGLE:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i:i + SHINGLE]) for i in range(len(w) - SHINGLE + 1)}


def extra_docs(held, train):
    """Extra documents, deduplicated: none shares an 8-word run (or, when
    shorter than 8 words, its whole word sequence) with a held-out fortune;
    none repeats a training fortune or another extra document exactly."""
    held_sh = set()
    for d in held:
        held_sh |= shingles(d)
    seen = set(words_key(d) for d in train)
    out, report = [], []
    for name, pkg, lic, path, kind in EXTRA_SOURCES:
        if not os.path.exists(path):
            sys.exit("make_corpus: %s is missing (Debian: apt-get install %s)" % (path, pkg))
        docs = {"fortune": fortunes, "tfortune": tfortunes, "jargon": jargon}[kind](path)
        kept = dropped_held = dropped_dup = 0
        for d in docs:
            k = words_key(d)
            if shingles(d) & held_sh:
                dropped_held += 1
            elif k in seen:
                dropped_dup += 1
            else:
                seen.add(k)
                out.append(d)
                kept += 1
        report.append("%s (%s, %s): %d documents, %d kept, %d dropped as held-out overlap, %d as duplicates, %d chars"
                      % (name, pkg, lic, len(docs), kept, dropped_held, dropped_dup,
                         sum(len(x) for x in out[len(out) - kept:])))
    return out, report


def words_key(text):
    return " ".join(words(text))


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_corpus.py OUTDIR [FORTUNE_DIR]")
    outdir = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/games/fortunes"
    names = list(FORTUNE_FILES)
    missing = [n for n in names if not os.path.isfile(os.path.join(src, n))]
    if missing:
        sys.exit("make_corpus: missing fortune files in %s: %s (Debian: apt-get install fortunes)"
                 % (src, " ".join(missing)))
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
    # the frozen held-out text, as `lutdb eval --text` scores it (bits/char)
    with open(os.path.join(outdir, "heldout.txt"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(held))
    extra, report = extra_docs(held, train)
    with open(os.path.join(outdir, "extra.jsonl"), "w", encoding="utf-8") as f:
        for d in extra:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    for r in report:
        print("make_corpus: extra " + r, file=sys.stderr)
    print("make_corpus: %d files, %d fortunes (%d duplicates dropped): train %d (%d chars), held-out %d (%d chars)"
          % (len(names), len(docs), sum(len(fortunes(os.path.join(src, n))) for n in names) - len(docs),
             len(train), sum(map(len, train)), len(held), sum(map(len, held))), file=sys.stderr)

if __name__ == "__main__":
    main()
