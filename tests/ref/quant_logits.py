#!/usr/bin/python3
"""quant_logits.py OUTDIR: reference logits of quantized models (issue 13).

The engine decodes quantized tables and weights (runtime/engine); the C suite
tests/unit/test_runtime_quant.c packs the checkpoints written here with each
table / weight type and compares what it decodes with what this script
computes, with the PyTorch reference (lutdb_ref.py) on values quantized and
dequantized by the independent quantizer (quant_ref.py):

    table-T-B     the table quantized to T with block B, dense weights F32:
                  the engine must give logits within 1e-4 (it computes in
                  float32 on the exact dequantized values)
    weights-T     projections, MLP, embedding and head quantized to T (Q8_0
                  or Q4_0; norms, router and expert query stay F32), table
                  F32: the engine also rounds its activations to 8-bit
                  blocks (runtime/kernels/kernels.h), so its logits differ by
                  more; the suite measures and bounds that
    f32           nothing quantized (the baseline the others are read against)

Two models in rep form, stored F32 so that quantizing the stored table is
exact on both sides: MoLE (untied, GQA) and MoLKV (tied, window 6), with
d = dk = 128 so that every block of the issue divides every vector.

Layout (deterministic, like make_fixtures.py's):
    OUTDIR/models.txt                 one model name per line
    OUTDIR/tags.txt                   "TAG PART TYPE BLOCK" per line (PART table|weights|none)
    OUTDIR/<model>/ckpt/              config.json + model.safetensors (F32, rep form)
    OUTDIR/<model>/prompt.ids         bos first; greedy margin >= MIN_MARGIN for every tag
    OUTDIR/<model>/eval.ids
    OUTDIR/<model>/<tag>/logits.f32   [T, V] float32 LE for the prompt
    OUTDIR/<model>/<tag>/greedy.ids   the GREEDY_N ids after the prompt
    OUTDIR/<model>/<tag>/eval.txt     "loss=%.8f tokens=%d"
    OUTDIR/<model>/<tag>/margin.txt   the smallest top-1/top-2 greedy margin
"""
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import lutdb_ref as R  # noqa: E402
import quant_ref as Q  # noqa: E402

GREEDY_N = 8
MIN_MARGIN = 0.02
EVAL_LEN = 90

MODELS = [
    ("qmole", "mole", dict(V=320, d=128, I=256, L=2, heads=4, kv_heads=2, N=4, max_pos=64), 31),
    ("qmolkv", "molkv", dict(V=300, d=128, I=192, L=2, heads=4, N=3, dk=128, H=2, W=6, tied=True,
                             max_pos=64), 37),
]

TAGS = [("f32", "none", None, 0)]
TAGS += [("table-%s-%d" % (Q.NAMES[t], b), "table", t, b)
         for t, b in ((Q.Q8_0, 32), (Q.Q4_0, 32), (Q.NF4, 32), (Q.NF4, 64), (Q.NF4, 128), (Q.NF3, 32),
                      (Q.NF3, 128))]
TAGS += [("weights-%s" % Q.NAMES[t], "weights", t, 32) for t in (Q.Q8_0, Q.Q4_0)]

# The dense weights --weight-dtype quantizes (issue 13): projections, MLP,
# embedding, head, when their rows are whole 32-value blocks.
QUANT_SUFFIXES = ("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight", "up_proj.weight",
                  "down_proj.weight")


def quantized_weight(name, t):
    if t.dim() != 2 or t.shape[1] % 32:
        return False
    return name.endswith(QUANT_SUFFIXES) or name in ("model.embed_tokens.weight", "lm_head.weight")


def roundtrip(dtype, block, t):
    """t quantized and dequantized by the reference, same shape, float32."""
    flat = t.to(torch.float32).contiguous().reshape(-1)
    data = Q.quantize(dtype, block, flat)
    return Q.dequantize(dtype, block, data, flat.numel()).reshape(t.shape)


def variant(cfg, w, part, dtype, block):
    """The weights the engine should see for one tag."""
    out = dict(w)
    if part == "table":
        out[cfg.table_name] = roundtrip(dtype, block, w[cfg.table_name])
    elif part == "weights":
        for k, v in w.items():
            if quantized_weight(k, v):
                out[k] = roundtrip(dtype, block, v)
    return out


def write_text(path, text):
    with open(path, "w") as f:
        f.write(text)


def ids_text(ids):
    return ",".join(str(int(i)) for i in ids) + "\n"


def pick_prompt(cfg, sets, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(200):
        n = int(torch.randint(5, 10, [1], generator=g))
        prompt = [cfg.bos] + torch.randint(3, cfg.V, [n - 1], generator=g).tolist()
        outs = [R.greedy(cfg, w, prompt, GREEDY_N, with_margin=True) for w in sets]
        if min(m for _, m in outs) >= MIN_MARGIN and not any(t == cfg.eos for o, _ in outs for t in o):
            return prompt, outs
    sys.exit("quant_logits: no prompt with a clear greedy margin (seed %d)" % seed)


def make_model(outdir, name, family, ck, seed):
    mdir = os.path.join(outdir, name)
    cdict = R.config_dict(family, dtype="F32", **ck)
    cfg = R.Config.from_dict(cdict)
    w = R.reparameterize(cfg, R.init_training(cfg, seed), "F32")
    R.check_names(cfg, w)
    R.save_checkpoint(os.path.join(mdir, "ckpt"), cdict, w, config_text=json.dumps(cdict, indent=2) + "\n")
    sets = [variant(cfg, w, part, t, b) for _, part, t, b in TAGS]
    prompt, outs = pick_prompt(cfg, sets, seed + 7000)
    g = torch.Generator().manual_seed(seed + 9000)
    ev = [cfg.bos] + torch.randint(0, cfg.V, [EVAL_LEN - 1], generator=g).tolist()
    write_text(os.path.join(mdir, "prompt.ids"), ids_text(prompt))
    write_text(os.path.join(mdir, "eval.ids"), ids_text(ev))
    for (tag, _, _, _), wt, (toks, margin) in zip(TAGS, sets, outs):
        tdir = os.path.join(mdir, tag)
        os.makedirs(tdir)
        with open(os.path.join(tdir, "logits.f32"), "wb") as f:
            f.write(R.forward(cfg, wt, prompt).to(torch.float32).contiguous().numpy().astype("<f4").tobytes())
        write_text(os.path.join(tdir, "greedy.ids"), ids_text(toks))
        loss, ntok = R.eval_loss(cfg, wt, ev)
        write_text(os.path.join(tdir, "eval.txt"), "loss=%.8f tokens=%d\n" % (loss, ntok))
        write_text(os.path.join(tdir, "margin.txt"), "%.6g\n" % margin)


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: quant_logits.py OUTDIR")
    torch.set_num_threads(1)
    outdir = argv[1]
    if os.path.exists(outdir):
        shutil.rmtree(outdir)
    os.makedirs(outdir)
    for name, family, ck, seed in MODELS:
        make_model(outdir, name, family, ck, seed)
    write_text(os.path.join(outdir, "models.txt"), "".join(m[0] + "\n" for m in MODELS))
    write_text(os.path.join(outdir, "tags.txt"),
               "".join("%s %s %s %d\n" % (tag, part, Q.NAMES.get(t, "-"), b) for tag, part, t, b in TAGS))
    print("quant_logits: %d models x %d tags in %s" % (len(MODELS), len(TAGS), outdir))


if __name__ == "__main__":
    main(sys.argv)
