#!/usr/bin/python3
"""eval_ref.py [--lutdb BUILD/lutdb] [--ids FILE] [MODEL ...] - held-out loss table.

For each demo checkpoint (default: tests/demo/models/{dense,mole,molkv}):
  * PyTorch: lutdb_ref.load_checkpoint + lutdb_ref.eval_loss on the held-out
    ids (tests/demo/heldout.ids: the held-out fortunes tokenized with the HF
    tokenizer through the npm binding, each followed by <|endoftext|>).
    Windows of max_position_embeddings ids, positions restart per window, a
    window of n ids predicts n-1 (the rule of lutdb eval).  The weights are
    the stored BF16 ones upcast to float32.
  * PyTorch rep F16: the same after lutdb_ref.reparameterize(..., "F16"), the
    official conversion, which is what `lutdb pack` (default dtype) stores.
  * lutdb: `lutdb pack CKPT DB` (F16, the default for training form) and
    `lutdb pack CKPT DB --dtype f32`, then `lutdb eval DB --ids FILE`.
Prints a Markdown table (also written to --out, default build/demo/eval.md).
"""

import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
import lutdb_ref as ref  # noqa: E402
import torch  # noqa: E402


def read_ids(path):
    with open(path) as f:
        return [int(x) for x in f.read().replace("\n", "").split(",") if x]


def count_params(w):
    total = sum(v.numel() for v in w.values())
    nonzero_experts = sum(v.numel() for k, v in w.items()
                          if (".experts." in k or "expert_keys" in k or "expert_layernorm" in k)
                          and bool((v != 0).any()) and "layernorm" not in k)
    active = sum(v.numel() for k, v in w.items()
                 if ".experts." not in k and "expert_keys" not in k and "expert_layernorm" not in k)
    return total, active, nonzero_experts


def lutdb_eval(lutdb, ckpt, db, ids_path, extra):
    if os.path.exists(db):
        os.remove(db)
    t = time.time()
    subprocess.run([lutdb, "pack", ckpt, db, "--quiet"] + extra, check=True)
    tp = time.time() - t
    t = time.time()
    r = subprocess.run([lutdb, "eval", db, "--ids", ids_path, "--quiet"], check=True,
                       stdout=subprocess.PIPE, text=True)
    te = time.time() - t
    m = re.search(r"loss=([0-9.]+) ppl=([0-9.]+) tokens=(\d+)", r.stdout.strip().splitlines()[-1])
    return float(m.group(1)), int(m.group(3)), tp, te, os.path.getsize(db)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lutdb", default=os.path.join(ROOT, "build", "lutdb"))
    ap.add_argument("--ids", default=os.path.join(HERE, "heldout.ids"))
    ap.add_argument("--work", default=os.path.join(ROOT, "build", "demo"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("models", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = a.models or [os.path.join(HERE, "models", n) for n in ("dense", "mole", "molkv")]
    models = [m for m in models if os.path.isdir(m)]
    ids = read_ids(a.ids)
    os.makedirs(a.work, exist_ok=True)
    have_lutdb = os.access(a.lutdb, os.X_OK)

    rows = []
    for m in models:
        name = os.path.basename(os.path.normpath(m))
        cfg, w = ref.load_checkpoint(m)
        total, active, nz = count_params(w)
        t = time.time()
        with torch.no_grad():
            loss, n = ref.eval_loss(cfg, w, ids)
            rep = ref.reparameterize(cfg, w, "F16")
            loss16, n16 = ref.eval_loss(cfg, rep, ids)
        tref = time.time() - t
        row = {"name": name, "path": m, "family": cfg.family, "N": cfg.N, "total": total, "active": active,
               "nz": nz, "ref": loss, "ref16": loss16, "n": n, "tref": tref}
        print("%s: PyTorch %.6f, rep F16 %.6f over %d tokens (%.1fs)" % (name, loss, loss16, n, tref),
              file=sys.stderr, flush=True)
        if have_lutdb:
            for tag, extra in (("f16", []), ("f32", ["--dtype", "f32"])):
                db = os.path.join(a.work, "%s-%s.lutdb" % (name, tag))
                l, nt, tp, te, sz = lutdb_eval(a.lutdb, m, db, a.ids, extra)
                if nt != n:
                    print("%s: token counts differ: lutdb %d, PyTorch %d" % (name, nt, n), file=sys.stderr)
                row[tag] = (l, tp, te, sz)
                print("%s: lutdb %s %.6f (pack %.1fs, eval %.1fs, %d bytes)" % (name, tag, l, tp, te, sz),
                      file=sys.stderr, flush=True)
        rows.append(row)

    out = []
    out.append("| model | params total / active | held-out loss PyTorch (BF16 ckpt) | PyTorch rep F16 "
               "| lutdb eval F16 pack | lutdb − PyTorch rep F16 | lutdb eval F32 pack | lutdb F32 − PyTorch |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        tot = r["total"] if r["family"] != "mole" or r["N"] > 1 or r["nz"] else r["active"]
        label = r["name"] + ("" if r["name"] != "dense" else " (MoLE N=1, zero expert)")
        cells = [label, "%.3fM / %.3fM" % (tot / 1e6, r["active"] / 1e6), "%.6f" % r["ref"], "%.6f" % r["ref16"]]
        if "f16" in r:
            cells += ["%.6f" % r["f16"][0], "%+.1e" % (r["f16"][0] - r["ref16"]),
                      "%.6f" % r["f32"][0], "%+.1e" % (r["f32"][0] - r["ref"])]
        else:
            cells += ["n/a"] * 4
        out.append("| " + " | ".join(cells) + " |")
    n = rows[0]["n"] if rows else 0
    if rows and "f16" in rows[0]:
        out.append("")
        out.append("| model | checkpoint (BF16) | database F16 | database F32 | lutdb eval F16 / F32 (s) |")
        out.append("| --- | --- | --- | --- | --- |")
        for r in rows:
            ck = os.path.getsize(os.path.join(r["path"], "model.safetensors"))
            out.append("| %s | %.2f MB | %.2f MB | %.2f MB | %.1f / %.1f |"
                       % (r["name"], ck / 1e6, r["f16"][3] / 1e6, r["f32"][3] / 1e6, r["f16"][2], r["f32"][2]))
    out.append("")
    out.append("Held-out: %d predicted tokens (%s), windows of max_position_embeddings." % (n, os.path.relpath(a.ids, ROOT)))
    text = "\n".join(out) + "\n"
    print(text)
    with open(a.out or os.path.join(a.work, "eval.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
