#!/usr/bin/python3
"""make_fixtures.py OUTDIR [CASE...]: write the reference fixtures.

Deterministic: fixed seeds, single-threaded torch, stable JSON, so every run
produces identical bytes (OUTDIR/MANIFEST lists sha256 of every file).
Layout and file formats: tests/ref/README.md.  Run with /usr/bin/python3.
"""

import hashlib
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import lutdb_ref as R  # noqa: E402

GREEDY_N = 8
MIN_MARGIN = 1e-3  # prompts are re-drawn until every greedy step beats this

# name: (family, form, dtype, config kwargs, extras)
CASES = [
    ("mole_train_f32", "mole", "train", "F32",
     dict(V=263, d=64, I=96, L=2, heads=4, N=3),
     dict(seed=101, eval_len=80, gen={"bos_token_id": 1, "eos_token_id": 2, "do_sample": False})),
    ("mole_train_f16", "mole", "train", "F16",
     dict(V=259, d=64, I=128, L=2, heads=4, N=2, kv_heads=4, eps=1e-6),
     dict(seed=102, eval_len=40)),
    ("mole_train_bf16", "mole", "train", "BF16",
     dict(V=257, d=64, I=96, L=2, heads=4, N=2, theta=500000.0),
     dict(seed=103, eval_len=33)),
    ("mole_rep_f16", "mole", "rep", "F16",
     dict(V=257, d=64, I=96, L=2, heads=4, N=4),
     dict(seed=104, eval_len=65)),
    ("mole_rep_f32", "mole", "rep", "F32",
     dict(V=260, d=64, I=112, L=2, heads=4, N=2, kv_heads=2, tied=False),
     dict(seed=105, eval_len=30)),
    ("mole_train_sharded", "mole", "train", "BF16",
     dict(V=300, d=64, I=96, L=3, heads=4, N=2),
     dict(seed=106, eval_len=50, shards=3)),
    ("mole_tied_gqa", "mole", "train", "F16",
     dict(V=258, d=64, I=96, L=2, heads=4, N=2, kv_heads=2, tied=True),
     dict(seed=107, eval_len=36)),
    ("molkv_train_f32", "molkv", "train", "F32",
     dict(V=265, d=64, I=96, L=2, heads=4, N=2, dk=32, H=2, W=0),
     dict(seed=201, eval_len=70,
          gen={"bos_token_id": 1, "eos_token_id": [2, 3], "do_sample": False, "max_new_tokens": 8})),
    ("molkv_window", "molkv", "train", "BF16",
     dict(V=270, d=64, I=96, L=2, heads=4, N=3, kv_heads=2, dk=16, H=4, W=3),
     dict(seed=202, eval_len=75)),
    ("molkv_rep_f16", "molkv", "rep", "F16",
     dict(V=258, d=64, I=96, L=2, heads=4, N=3, dk=16, H=2, W=5),
     dict(seed=203, eval_len=40)),
    ("molkv_tied", "molkv", "train", "F16",
     dict(V=262, d=64, I=96, L=2, heads=4, N=2, dk=16, H=2, tied=True),
     dict(seed=204, eval_len=45)),
]


def fail(msg):
    sys.stderr.write("make_fixtures: error: %s\n" % msg)
    sys.exit(1)


def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def write_f32(path, t):
    with open(path, "wb") as f:
        f.write(t.to(torch.float32).contiguous().numpy().astype("<f4").tobytes())


def ids_text(ids):
    return ",".join(str(int(i)) for i in ids) + "\n"


def eos_set(cfg, gen):
    out = set()
    for e in (cfg.eos, (gen or {}).get("eos_token_id")):
        if isinstance(e, list):
            out.update(e)
        elif e is not None:
            out.add(e)
    return out


def pick_prompt(cfg, weight_sets, seed, avoid):
    """Draw prompts (bos first, 5..9 tokens) until greedy decoding on every
    weight set has a top-1/top-2 margin >= MIN_MARGIN at every step and emits
    no EOS id.  Returns (prompt, [greedy ids per weight set], min margin)."""
    g = torch.Generator().manual_seed(seed)
    for _ in range(200):
        n = int(torch.randint(5, 10, [1], generator=g))
        body = torch.randint(3, cfg.V, [n - 1], generator=g).tolist()
        prompt = [cfg.bos] + body
        outs, margin = [], float("inf")
        for w in weight_sets:
            toks, m = R.greedy(cfg, w, prompt, GREEDY_N, with_margin=True)
            outs.append(toks)
            margin = min(margin, m)
        if margin >= MIN_MARGIN and not any(t in avoid for o in outs for t in o):
            return prompt, outs, margin
    fail("no prompt with a clear greedy margin (seed %d)" % seed)


def make_case(outdir, name, family, form, dtype, ck, ex):
    case = os.path.join(outdir, name)
    ckdir, refdir = os.path.join(case, "ckpt"), os.path.join(case, "ref")
    os.makedirs(refdir)
    cdict = R.config_dict(family, dtype=dtype, **ck)
    cfg = R.Config.from_dict(cdict)
    config_text = json.dumps(cdict, indent=2) + "\n"
    shards = ex.get("shards", 1)
    gen = ex.get("gen")

    train32 = R.init_training(cfg, ex["seed"])
    meta = {"case": name, "family": family, "form": form, "dtype": dtype,
            "V": cfg.V, "d": cfg.d, "L": cfg.L, "N": cfg.N, "I": cfg.I,
            "heads": cfg.heads, "kv_heads": cfg.kv_heads, "head_dim": cfg.hd,
            "dk": cfg.dk, "H": cfg.H, "W": cfg.W, "tied": cfg.tied, "shards": shards,
            "rms_norm_eps": cfg.eps, "rope_theta": cfg.theta, "max_pos": cfg.max_pos,
            "bos": cfg.bos, "eos": cfg.eos, "seed": ex["seed"],
            "table_name": cfg.table_name, "table_shape": [cfg.V, cfg.table_cols],
            "slot_len": cfg.rowlen, "generation_config": gen is not None}

    if form == "train":
        stored = R.cast_weights(train32, dtype)          # what is on disk
        table = R.build_table(cfg, stored)               # float32 from stored
        rep16 = R.reparameterize(cfg, stored, "F16")     # official conversion
        weight_sets = [stored, rep16]
    else:
        stored = R.reparameterize(cfg, R.cast_weights(train32, "F32"), dtype)
        table = stored[cfg.table_name].to(torch.float32)
        rep16 = None
        weight_sets = [stored]
    R.check_names(cfg, stored)
    R.save_checkpoint(ckdir, cdict, stored, shards=shards, generation_config=gen,
                      config_text=config_text)
    if rep16 is not None:
        R.check_names(cfg, rep16)
        R.save_checkpoint(os.path.join(refdir, "rep_ckpt"), cdict, rep16, config_text=config_text)

    write_f32(os.path.join(refdir, "table.f32"), table)
    prompt, greedy_outs, margin = pick_prompt(cfg, weight_sets, ex["seed"] + 7000, eos_set(cfg, gen))
    write_text(os.path.join(refdir, "prompt.ids"), ids_text(prompt))
    logits = R.forward(cfg, stored, prompt)
    write_f32(os.path.join(refdir, "logits.f32"), logits)
    write_text(os.path.join(refdir, "greedy.ids"), ids_text(greedy_outs[0]))

    g = torch.Generator().manual_seed(ex["seed"] + 9000)
    ev = [cfg.bos] + torch.randint(0, cfg.V, [ex["eval_len"] - 1], generator=g).tolist()
    write_text(os.path.join(refdir, "eval.ids"), ids_text(ev))
    loss, ntok = R.eval_loss(cfg, stored, ev)
    write_text(os.path.join(refdir, "eval.txt"), "loss=%.8f tokens=%d\n" % (loss, ntok))

    meta.update({"prompt_len": len(prompt), "eval_len": len(ev), "eval_tokens": ntok,
                 "greedy_min_margin": float("%.6g" % margin)})
    obs = {}
    if form == "train":
        lt = R.forward(cfg, stored, prompt, use_table=table)
        obs["logits_table_vs_direct"] = float((lt - logits).abs().max())
        l16 = R.forward(cfg, rep16, prompt)
        write_f32(os.path.join(refdir, "logits_rep_f16.f32"), l16)
        write_text(os.path.join(refdir, "greedy_rep_f16.ids"), ids_text(greedy_outs[1]))
        loss16, ntok16 = R.eval_loss(cfg, rep16, ev)
        write_text(os.path.join(refdir, "eval_rep_f16.txt"), "loss=%.8f tokens=%d\n" % (loss16, ntok16))
        obs["logits_rep_f16_vs_train"] = float((l16 - logits).abs().max())
        obs["table_f16_vs_f32"] = float((rep16[cfg.table_name].float() - table).abs().max())
        obs["eval_loss_rep_f16_vs_train"] = abs(loss16 - loss)
        if greedy_outs[0] != greedy_outs[1]:
            obs["greedy_rep_f16_differs"] = True
    meta["observed_max_abs_diff"] = {k: float("%.3g" % v) if isinstance(v, float) else v
                                     for k, v in obs.items()}
    write_text(os.path.join(refdir, "meta.json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")


def manifest(outdir):
    lines = []
    for root, dirs, files in os.walk(outdir):
        dirs.sort()
        for fn in sorted(files):
            p = os.path.join(root, fn)
            rel = os.path.relpath(p, outdir)
            if rel == "MANIFEST":
                continue
            with open(p, "rb") as f:
                lines.append("%s  %s\n" % (hashlib.sha256(f.read()).hexdigest(), rel))
    write_text(os.path.join(outdir, "MANIFEST"), "".join(sorted(lines, key=lambda s: s[66:])))


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: make_fixtures.py OUTDIR [CASE...]\n")
        return 2
    outdir = argv[1]
    want = argv[2:]
    known = [c[0] for c in CASES]
    for w in want:
        if w not in known:
            fail("unknown case %r (known: %s)" % (w, ", ".join(known)))
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        fail("cannot create %s: %s" % (outdir, e))
    t0 = time.time()
    for name, family, form, dtype, ck, ex in CASES:
        if want and name not in want:
            continue
        case = os.path.join(outdir, name)
        if os.path.exists(case):
            shutil.rmtree(case)
        t = time.time()
        try:
            make_case(outdir, name, family, form, dtype, ck, ex)
        except (R.RefError, OSError, ValueError) as e:
            fail("%s: %s" % (name, e))
        sys.stderr.write("  %-20s %.2fs\n" % (name, time.time() - t))
    cases = sorted(d for d in os.listdir(outdir) if d in known and os.path.isdir(os.path.join(outdir, d)))
    try:
        write_text(os.path.join(outdir, "cases.txt"), "".join(c + "\n" for c in cases))
        manifest(outdir)
    except OSError as e:
        fail(str(e))
    sys.stderr.write("make_fixtures: %d cases in %s (%.1fs)\n" % (len(cases), outdir, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
