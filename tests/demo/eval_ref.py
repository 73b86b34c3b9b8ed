#!/usr/bin/python3
"""eval_ref.py [--lutdb BUILD/lutdb] [--state DIR] - held-out loss of every demo run.

Runs: the three families (dense, mole, molkv) x the seeds of train_all.sh.
The default seed's checkpoints are tests/demo/models/<family>; the other
seeds' are DIR/<family>-s<seed>/out (DIR: --state, default build/demo-train).
Missing runs are skipped.  For each run:

  * PyTorch: lutdb_ref.load_checkpoint, then the windows of
    lutdb_ref.eval_loss scored with train.py's batched reference forward
    (float32; it equals lutdb_ref.eval_loss to ~1e-7 and is ~10x faster), on
    the held-out ids (tests/demo/heldout.ids: the held-out fortunes tokenized with the HF
    tokenizer, each followed by <|endoftext|>).  Windows of
    max_position_embeddings ids, positions restart per window, a window of n
    ids predicts n-1 (the rule of lutdb eval).  The stored BF16 weights are
    upcast to float32.
  * lutdb: `lutdb pack CKPT DB` (F16 table, the default for training form),
    then `lutdb eval DB --ids heldout.ids` (the same ids) and `lutdb eval DB
    --text heldout.txt` (the frozen held-out text, for bits per character:
    loss x tokens / (characters x ln 2)).
  * With --detail, for the default seed also: lutdb_ref.eval_loss itself
    (unbatched), on the checkpoint and on lutdb_ref.reparameterize(.., "F16")
    (what the F16 pack stores), and lutdb eval on a `--dtype f32` pack.

Results are cached in build/demo/eval-cache.json (keyed by the checkpoint's
bytes), so a rerun only evaluates new runs.  Prints Markdown (also written to
--out, default tests/demo/results.md): one line per run, then mean ± sd over
seeds per family (sd: sample standard deviation, n-1).
"""

import argparse
import hashlib
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
sys.path.insert(0, HERE)
import lutdb_ref as ref  # noqa: E402
import torch  # noqa: E402
import train  # noqa: E402

FAMILIES = ("dense", "mole", "molkv")
SEEDS = (1234, 1235, 1236)
DEFAULT_SEED = 1234
LABEL = {"dense": "dense", "mole": "MoLE", "molkv": "MoLKV"}


def read_ids(path):
    with open(path) as f:
        return [int(x) for x in f.read().replace("\n", "").split(",") if x]


def ckpt_digest(path):
    h = hashlib.sha256()
    for n in sorted(os.listdir(path)):
        if n.endswith(".safetensors") or n == "config.json":
            with open(os.path.join(path, n), "rb") as f:
                h.update(n.encode() + b"\0" + f.read())
    return h.hexdigest()


def count_params(w):
    """total and active (everything but the experts) parameters, and the
    count of stored weights that are not model parameters: for the dense
    model (MoLE N=1 with zero experts and router) the zero tensors and the
    then unused expert layernorm."""
    experts = lambda k: ".experts." in k or "expert_keys" in k or "expert_layernorm" in k  # noqa: E731
    zero = {k for k, v in w.items() if not bool((v != 0).any())}
    if all(k in zero for k in w if ".experts." in k):
        zero |= {k for k in w if "expert_layernorm" in k}
    total = sum(v.numel() for k, v in w.items() if k not in zero)
    active = sum(v.numel() for k, v in w.items() if k not in zero and not experts(k))
    return total, active, sum(w[k].numel() for k in zero)


def lutdb_pack(lutdb, ckpt, db, extra):
    if os.path.exists(db):
        os.remove(db)
    subprocess.run([lutdb, "pack", ckpt, db, "--quiet"] + extra, check=True)
    return os.path.getsize(db)


def lutdb_eval(lutdb, db, mode, path):
    r = subprocess.run([lutdb, "eval", db, mode, path, "--threads", "1", "--quiet"], check=True,
                       stdout=subprocess.PIPE, text=True)
    m = re.search(r"loss=([0-9.]+) ppl=([0-9.]+) tokens=(\d+)", r.stdout.strip().splitlines()[-1])
    return float(m.group(1)), int(m.group(3))


def evaluate(a, fam, seed, path, ids, chars):
    cfg, w = ref.load_checkpoint(path)
    total, active, zero = count_params(w)
    t = time.time()
    wf = {k: v.float() for k, v in w.items()}
    with torch.no_grad():
        loss, n = train.heldout_loss(cfg, wf, torch.tensor(ids), False)
    r = {"family": fam, "seed": seed, "total": total, "active": active, "zero": zero, "ref": loss, "n": n,
         "t_ref": time.time() - t}
    db = os.path.join(a.work, "%s-s%d-f16.lutdb" % (fam, seed))
    r["db_f16"] = lutdb_pack(a.lutdb, path, db, [])
    r["lutdb"], nt = lutdb_eval(a.lutdb, db, "--ids", a.ids)
    if nt != n:
        sys.exit("eval_ref: %s seed %d: token counts differ: lutdb %d, PyTorch %d" % (fam, seed, nt, n))
    tl, tt = lutdb_eval(a.lutdb, db, "--text", a.text)
    r["text_loss"], r["text_tokens"] = tl, tt
    r["bpc"] = tl * tt / (chars * math.log(2))
    r["ckpt_bytes"] = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
                          if f.endswith(".safetensors"))
    os.remove(db)
    return r


def detail(a, r, path, ids):
    """The default seed: the unbatched reference (lutdb_ref.eval_loss) on the
    checkpoint and on its official F16 conversion, and an F32 pack."""
    cfg, w = ref.load_checkpoint(path)
    with torch.no_grad():
        r["ref_u"] = ref.eval_loss(cfg, w, ids)[0]
        r["ref16"] = ref.eval_loss(cfg, ref.reparameterize(cfg, w, "F16"), ids)[0]
    db32 = os.path.join(a.work, "%s-s%d-f32.lutdb" % (r["family"], r["seed"]))
    r["db_f32"] = lutdb_pack(a.lutdb, path, db32, ["--dtype", "f32"])
    r["lutdb32"] = lutdb_eval(a.lutdb, db32, "--ids", a.ids)[0]
    os.remove(db32)


def ms(xs, fmt="%.4f"):
    if len(xs) == 1:
        return (fmt % xs[0]) + " (1 seed)"
    return (fmt + " ± " + fmt) % (statistics.mean(xs), statistics.stdev(xs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lutdb", default=os.path.join(ROOT, "build", "lutdb"))
    ap.add_argument("--state", default=os.environ.get("DEMO_STATE", os.path.join(ROOT, "build", "demo-train")))
    ap.add_argument("--ids", default=os.path.join(HERE, "heldout.ids"))
    ap.add_argument("--text", default=os.path.join(HERE, "heldout.txt"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "demo"))
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated subset")
    ap.add_argument("--detail", action="store_true",
                    help="for the default seed also the unbatched reference, rep F16 and an F32 pack (slow)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    ids = read_ids(a.ids)
    with open(a.text, encoding="utf-8") as f:
        chars = len(f.read())
    cache_path = os.path.join(a.work, "eval-cache.json")
    cache = json.load(open(cache_path)) if os.path.exists(cache_path) else {}

    rows = []
    for fam in [f for f in FAMILIES if f in a.families.split(",")]:
        for seed in SEEDS:
            path = os.path.join(HERE, "models", fam) if seed == DEFAULT_SEED else \
                os.path.join(a.state, "%s-s%d" % (fam, seed), "out")
            if not os.path.exists(os.path.join(path, "config.json")):
                continue
            key = "v3:" + ckpt_digest(path)
            if key not in cache and "v2:" + key[3:] in cache:  # the same losses, other counts
                cache[key] = dict(cache["v2:" + key[3:]])
                cache[key]["total"], cache[key]["active"], cache[key]["zero"] = \
                    count_params(ref.load_checkpoint(path)[1])
            if key not in cache:
                cache[key] = evaluate(a, fam, seed, path, ids, chars)
            r = cache[key]
            if a.detail and seed == DEFAULT_SEED and "ref16" not in r:
                detail(a, r, path, ids)
            with open(cache_path, "w") as f:
                json.dump(cache, f, indent=1)
            print("%s seed %d: PyTorch %.6f, lutdb %.6f, %.4f bits/char (%.0fs)"
                  % (fam, seed, r["ref"], r["lutdb"], r["bpc"], r["t_ref"]), file=sys.stderr, flush=True)
            rows.append(r)

    out = []
    n = rows[0]["n"] if rows else 0
    out.append("Held-out loss in nats per token: %d predicted tokens of tests/demo/heldout.ids, windows of 128. "
               "PyTorch: the reference forward (train.py's batched lutdb_ref forward, float32) on the BF16 checkpoint, "
               "the windows of lutdb_ref.eval_loss. lutdb: `lutdb eval --ids` on the F16 pack. "
               "bits/char: `lutdb eval --text heldout.txt` (%d characters)." % (n, chars))
    out.append("")
    out.append("| model | seeds | params total / active | PyTorch | `lutdb eval`, F16 pack | bits/char |")
    out.append("| --- | ---: | --- | ---: | ---: | ---: |")
    for fam in FAMILIES:
        rs = [r for r in rows if r["family"] == fam]
        if not rs:
            continue
        r0 = rs[0]
        tot = r0["total"]
        out.append("| %s | %d | %.3fM / %.3fM | %s | %s | %s |"
                   % (LABEL[fam], len(rs), tot / 1e6, r0["active"] / 1e6, ms([r["ref"] for r in rs]),
                      ms([r["lutdb"] for r in rs]), ms([r["bpc"] for r in rs], "%.3f")))
    out.append("")
    out.append("Per run:")
    out.append("")
    out.append("| model | seed | PyTorch | `lutdb eval`, F16 | lutdb − PyTorch | `lutdb eval --text` loss / tokens | bits/char |")
    out.append("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in rows:
        out.append("| %s | %d | %.6f | %.6f | %+.1e | %.6f / %d | %.4f |"
                   % (LABEL[r["family"]], r["seed"], r["ref"], r["lutdb"], r["lutdb"] - r["ref"], r["text_loss"],
                      r["text_tokens"], r["bpc"]))
    d = [r for r in rows if r["seed"] == DEFAULT_SEED and "ref16" in r]
    if d:
        out.append("")
        out.append("Default seed (%d), the committed models:" % DEFAULT_SEED)
        out.append("")
        out.append("| model | PyTorch unbatched (lutdb_ref.eval_loss) | PyTorch rep F16 | lutdb F16 − rep F16 | "
                   "lutdb F32 pack | lutdb F32 − PyTorch | checkpoint | database F16 / F32 |")
        out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for r in d:
            out.append("| %s | %.6f | %.6f | %+.1e | %.6f | %+.1e | %.2f MB | %.2f / %.2f MB |"
                       % (LABEL[r["family"]], r["ref_u"], r["ref16"], r["lutdb"] - r["ref16"], r["lutdb32"],
                          r["lutdb32"] - r["ref_u"], r["ckpt_bytes"] / 1e6, r["db_f16"] / 1e6, r["db_f32"] / 1e6))
    mole = [r["lutdb"] for r in rows if r["family"] == "mole"]
    molkv = [r["lutdb"] for r in rows if r["family"] == "molkv"]
    if len(mole) >= 2 and len(molkv) >= 2:
        dm = statistics.mean(molkv) - statistics.mean(mole)
        se = math.sqrt(statistics.variance(mole) / len(mole) + statistics.variance(molkv) / len(molkv))
        out.append("")
        out.append("MoLKV − MoLE (lutdb, mean over seeds): %+.4f nats (standard error %.4f, %d and %d seeds)."
                   % (dm, se, len(molkv), len(mole)))
    text = "\n".join(out) + "\n"
    print(text)
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
