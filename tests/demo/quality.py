#!/usr/bin/env python3
"""quality.py [--lutdb BIN] [--check] DB - the demo's two quality goals, through the CLI.

Readable: for each prompt below, `lutdb run DB --prompt P -n 60 --temp 0.8
--top-k 40 --seed 1` generates a continuation.  Its words are looked up in
Debian's `wamerican` list (/usr/share/dict/american-english); the goal is
at least 85% of all generated words, over all prompts together.

  * A word is a run of ASCII letters, with inner apostrophes ("don't",
    "programmer's"); digits, punctuation and other characters separate words
    and are not counted.
  * Only generated words count.  A word that starts in the prompt and ends in
    the generated text (the prompt "A program" continued with "mer") counts
    as the whole word "programmer".
  * A word is English when the list holds it as written, or in lower case
    (sentence starts, all-caps words), or without a final "'s" or "s'"
    (possessives of words the list does not inflect).
  * The end-of-text token is not printed by `lutdb run`, so it is no word.

Bits per character: `lutdb eval DB --text HELDOUT` on the frozen held-out
text (tests/demo/heldout.txt, the held-out fortunes joined by one blank
line).  bits/char = loss x tokens / (characters x ln 2), characters being
Unicode code points; the goal is at most 2.25.

Standard library only (no torch, no npm).  With --check the exit status is 1
when a goal is not met.
"""
import argparse
import math
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PROMPTS = ["A programmer", "The computer", "Life is", "Q: What", "Never", "I think", "The best way to",
           "Love is", "Money", "A man walks into a bar"]
GEN = ["-n", "60", "--temp", "0.8", "--top-k", "40", "--seed", "1"]
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
READABLE_GOAL = 0.85
BPC_GOAL = 2.25


def load_dict(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return set(line.rstrip("\n") for line in f)


def english(w, words):
    for v in (w, w.lower()):
        if v in words:
            return True
        for suf in ("'s", "s'"):
            if v.endswith(suf) and v[:-len(suf)] in words:
                return True
    return False


def generated_words(prompt, gen):
    full = prompt + gen
    return [m.group(0) for m in WORD.finditer(full) if m.end() > len(prompt)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("db")
    ap.add_argument("--lutdb", default=os.path.join(ROOT, "build", "lutdb"))
    ap.add_argument("--dict", default="/usr/share/dict/american-english")
    ap.add_argument("--heldout-text", default=os.path.join(HERE, "heldout.txt"))
    ap.add_argument("--threads", default="1")
    ap.add_argument("--check", action="store_true", help="exit 1 when a goal is not met")
    ap.add_argument("--no-heldout", action="store_true",
                    help="skip the held-out bits/char (under emulation its 35k-token eval takes too long)")
    ap.add_argument("prompts", nargs="*", help="prompts (default: the demo prompt and 9 others)")
    a = ap.parse_args()
    if not os.path.exists(a.dict):
        sys.exit("quality: %s is missing (Debian package wamerican)" % a.dict)
    words = load_dict(a.dict)

    good = total = 0
    for p in a.prompts or PROMPTS:
        r = subprocess.run([a.lutdb, "run", a.db, "--prompt", p] + GEN + ["--threads", a.threads, "--quiet"],
                           stdout=subprocess.PIPE, check=True)
        gen = r.stdout.decode("utf-8", errors="replace")
        if gen.endswith("\n"):
            gen = gen[:-1]  # the newline lutdb run adds after the text
        ws = generated_words(p, gen)
        bad = [w for w in ws if not english(w, words)]
        good += len(ws) - len(bad)
        total += len(ws)
        print("prompt %-26s %3d/%3d words English (%5.1f%%)  not in the list: %s"
              % ('"%s"' % p, len(ws) - len(bad), len(ws), 100.0 * (len(ws) - len(bad)) / max(1, len(ws)),
                 " ".join(bad) or "-"))
        print("    %s" % (p + gen).replace("\n", "\\n").replace("\t", "\\t"))
    share = good / max(1, total)
    ok_read = share >= READABLE_GOAL
    print("readable: %d/%d generated words in wamerican = %.1f%% (goal >= %.0f%%): %s"
          % (good, total, 100 * share, 100 * READABLE_GOAL, "met" if ok_read else "NOT met"))

    if a.no_heldout:
        print("held-out: not measured (--no-heldout)")
        if a.check and not ok_read:
            sys.exit(1)
        return
    with open(a.heldout_text, encoding="utf-8") as f:
        chars = len(f.read())
    r = subprocess.run([a.lutdb, "eval", a.db, "--text", a.heldout_text, "--threads", a.threads, "--quiet"],
                       stdout=subprocess.PIPE, check=True, text=True)
    m = re.search(r"loss=([0-9.]+) .*tokens=(\d+)", r.stdout.strip().splitlines()[-1])
    loss, tokens = float(m.group(1)), int(m.group(2))
    bpc = loss * tokens / (chars * math.log(2))
    ok_bpc = bpc <= BPC_GOAL
    print("held-out: loss %.6f over %d tokens of %d characters = %.4f bits/char (goal <= %.2f): %s"
          % (loss, tokens, chars, bpc, BPC_GOAL, "met" if ok_bpc else "NOT met"))
    if a.check and not (ok_read and ok_bpc):
        sys.exit(1)


if __name__ == "__main__":
    main()
