#!/usr/bin/python3
"""make_fixtures.py OUTDIR [CASE...]: write the reference fixtures.

CASE is a model case name or "quant" (the block-quantization vectors of
quant_ref.py, written to OUTDIR/quant/).  No CASE: everything.

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

import numpy as np  # noqa: E402
import torch  # noqa: E402

import lutdb_ref as R  # noqa: E402
import quant_ref as Q  # noqa: E402

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
    make_case_quant(os.path.join(refdir, "quant"), cfg, rep16 if rep16 is not None else stored)
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


# ---------------------------------------------------------------------------
# a case's quantized storage (OUTDIR/<case>/ref/quant; layout in README.md)

# (type, B) for tables; weights take Q8_0 and Q4_0 with B 32.
CASE_TABLE_QUANT = [(Q.Q8_0, 32), (Q.Q4_0, 32), (Q.NF4, 32), (Q.NF4, 64), (Q.NF3, 32), (Q.NF3, 64)]


def weight_quantizable(name, t):
    """spec/FORMAT.md 10: projections, MLP, embedding and head, when the
    last dimension is a multiple of 32 (written from the spec, not from the
    C schema)."""
    if t.dim() != 2 or t.shape[1] % 32 != 0 or ".experts." in name:
        return False
    return name in ("model.embed_tokens.weight", "lm_head.weight") or name.endswith("_proj.weight")


def make_case_quant(qdir, cfg, rep):
    """What pack must write from the rep weights `rep` (the case's ckpt for a
    rep case, rep_ckpt for a training case), each value upcast exactly to
    float32 first: table.TYPE-B.q, the table's token rows quantized as runs
    (B dividing d and dk), and weights.TYPE.q, the quantizable tensors in
    name order, listed in weights.txt as "TYPE NAME OFFSET BYTES"."""
    os.makedirs(qdir)
    table = rep[cfg.table_name].to(torch.float32).contiguous().reshape(-1)
    lens = [cfg.d] + ([cfg.dk] if cfg.dk else [])
    for dtype, block in CASE_TABLE_QUANT:
        if any(n % block for n in lens):
            continue
        with open(os.path.join(qdir, "table.%s-%d.q" % (Q.NAMES[dtype], block)), "wb") as f:
            f.write(Q.quantize(dtype, block, table))
    listing = []
    for dtype in (Q.Q8_0, Q.Q4_0):
        off = 0
        with open(os.path.join(qdir, "weights.%s.q" % Q.NAMES[dtype]), "wb") as f:
            for name in sorted(rep):
                t = rep[name]
                if name == cfg.table_name or not weight_quantizable(name, t):
                    continue
                data = Q.quantize(dtype, 32, t.to(torch.float32).contiguous().reshape(-1))
                f.write(data)
                listing.append("%s %s %d %d\n" % (Q.NAMES[dtype], name, off, len(data)))
                off += len(data)
    write_text(os.path.join(qdir, "weights.txt"), "".join(listing))


# ---------------------------------------------------------------------------
# block-quantization vectors (OUTDIR/quant; layout in README.md)

QUANT_CONFIGS = [(Q.Q8_0, 32), (Q.Q4_0, 32)] + [(t, b) for t in (Q.NF4, Q.NF3) for b in (32, 64, 128, 768)]


def f32(v):
    return torch.tensor(v, dtype=torch.float32)


def next_up(t):
    return torch.nextafter(t, torch.full_like(t, float("inf")))


def next_down(t):
    return torch.nextafter(t, torch.full_like(t, float("-inf")))


def chunks_of(head, body, n):
    """n values in chunks of 32: each chunk is head followed by the next
    32 - len(head) values of body (cycled)."""
    out, k, per = [], 0, 32 - len(head)
    while len(out) < n:
        out += head + [body[(k + j) % len(body)] for j in range(per)]
        k += per
    return f32(out[:n])


def fma_traps(kind, n=768, seed=5):
    """Values whose quantization changes if a compiler fuses a*b+c into one
    FMA (the spec forbids it): for Q8_0, x*id within half an ulp below a
    roundf halfway point, so fl(x*id) is the halfway point but the fused
    x*id - trunc is below 1/2; for Q4_0, x*id + 8.5 whose separate rounding
    lands on a tie that goes up to an integer while the fused sum rounds
    down.  Each 32-chunk starts with its extreme value; found by search in
    float64, where x*id is exact."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    out = []
    while len(out) < n:
        head = f32(rng.uniform(1, 2) * 2.0 ** int(rng.integers(-3, 6))) * f32(1 if rng.random() < 0.5 else -1)
        if kind == "q8":
            d = f32(abs(head)) / f32(127)
            targets = [sg * (k + 0.5) for k in range(127) for sg in (1, -1)]
        else:
            d = head / f32(-8)
            u = 2.0 ** -20                     # ulp of x*id + 8.5 in [8, 16)
            targets = [m - 8.5 + e for m in range(1, 17) for e in (-u / 2, u / 2, -u / 4)]
        idv = f32(1) / d
        found = []
        for t in targets:
            x = f32(t / float(idv))
            for _ in range(3):
                x = np.nextafter(x, f32(-np.inf))
            for _ in range(7):
                x = np.nextafter(x, f32(np.inf))
                if not abs(x) < abs(head) or float(x) in found:
                    continue
                p = float(x) * float(idv)          # exact in float64
                if kind == "q8":
                    v = f32(p)
                    tr = f32(int(v))
                    sep = int(tr) + (float(v - tr) >= 0.5) - (float(v - tr) <= -0.5)
                    fr = float(f32(p - float(tr)))
                    fused = int(tr) + (fr >= 0.5) - (fr <= -0.5)
                else:
                    sep, fused = int(f32(f32(p) + f32(8.5))), int(f32(p + 8.5))
                if sep != fused:
                    found.append(float(x))
                    break
            if len(found) == 31:
                break
        if len(found) >= 8:
            out += [float(head)] + found + [0.0] * (31 - len(found))
    return torch.tensor(out[:n], dtype=torch.float32)


def quant_inputs():
    """name -> 1-D float32 tensor.  Lengths are multiples of 768 except the
    MoLKV row, whose block sizes must divide dk = 128."""
    g = torch.Generator().manual_seed(1313)
    sets = {}

    def randn(n):
        return torch.randn(n, generator=g, dtype=torch.float32)

    sets["normal"] = randn(1536)
    sets["normal_small"] = randn(768) * 0.02
    sets["normal_big"] = randn(768) * 1000.0
    # every 32-block at its own scale, 1e-6 .. 1e3 (F16-subnormal scales too)
    sc = torch.pow(10.0, torch.linspace(-6.0, 3.0, 24)).repeat_interleave(32)
    sets["scales"] = randn(768) * sc.to(torch.float32)
    # heavy tails: a normal scale mixture (a few values ~100x the rest)
    sets["heavy"] = randn(1536) * torch.exp(1.5 * randn(1536))
    z = torch.zeros(768)
    z[1::2] = -0.0
    sets["zeros"] = z
    # zero blocks, single spikes, blocks of equal values, among normals
    m = randn(768)
    m[64:128] = 0.0
    m[160:192] = -0.0
    m[256:288] = 0.0
    m[270] = -3.0
    m[320:352] = 0.0
    m[351] = 1e-3
    m[384:416] = 0.75
    m[416:448] = -0.75
    sets["mixed"] = m

    # ties, each built so that the block's scale is exact for B = 32 and
    # every larger B (every 32-chunk has the same extreme value)
    half = [k + 0.5 for k in range(-127, 127)]
    sets["ties_q8"] = chunks_of([127.0], half + [float(next_down(f32([h]))[0]) for h in half]
                                + [float(next_up(f32([h]))[0]) for h in half], 768)
    sets["ties_q8_neg"] = chunks_of([-127.0], [0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 63.5, 0.49999997], 768)
    edges = [k - 8.5 for k in range(1, 17)]       # x + 8.5 is an integer exactly
    e = f32(edges)
    sets["ties_q4"] = chunks_of([-8.0], edges + next_down(e).tolist() + next_up(e).tolist(), 768)
    sets["ties_q4_pos"] = chunks_of([8.0], edges + next_down(e).tolist() + next_up(e).tolist(), 768)
    # |max| ties: the first of +5/-5 gives the sign of d
    sets["ties_q4_first"] = torch.cat([chunks_of([5.0, -5.0], [1.0, -2.0, 3.0], 384),
                                       chunks_of([-5.0, 5.0], [1.0, -2.0, 3.0], 384)])
    nf = []
    for code in (Q.NF4_CODE, Q.NF3_CODE):
        t = f32(Q.nf_split(code))
        c = f32(code)
        mid = f32([(code[i] + code[i + 1]) / 2 for i in range(len(code) - 1)])
        nf += t.tolist() + next_up(t).tolist() + next_down(t).tolist() + c.tolist() + mid.tolist()
        nf += next_up(c).tolist() + next_down(c).tolist()
    sets["ties_nf"] = chunks_of([1.0], nf, 1536)
    sets["ties_nf_neg"] = chunks_of([-1.0], [-v for v in nf], 768)

    sets["fma_q8"] = fma_traps("q8")
    sets["fma_q4"] = fma_traps("q4")

    # tiny: float32-subnormal and F16-subnormal scales (some 1/d overflow)
    tiny = [1e-45, 1e-42, 1e-40, 2.0 ** -149 * 8, 2.0 ** -149 * 127, 1.1e-38, 2.0 ** -126,
            2.0 ** -120, 1e-30, 1e-12, 2.0 ** -26, 2.0 ** -25, 1.5 * 2.0 ** -25, 2.0 ** -24,
            5.9e-8, 1e-7, 3e-7, 6.1e-5, 2.0 ** -14, 1e-4, 1e-20, 3e-39, 2.0 ** -140, 7e-6]
    t = randn(768).reshape(24, 32)
    t = t / t.abs().amax(dim=1, keepdim=True)
    sets["tiny"] = (t * f32(tiny)[:, None]).reshape(-1)

    # near the F16 limits; each is accepted by the types whose scale fits
    def near(limits, n=768):
        u = randn(n).reshape(-1, 32)
        u = u / u.abs().amax(dim=1, keepdim=True)
        lim = f32(limits)
        u[:, 0] = lim[torch.arange(u.shape[0]) % len(limits)]
        u[:, 1:] *= u[:, :1].abs()
        return u.reshape(-1)

    sets["near_max_nf"] = near([65504.0, -65504.0, 65519.99, -65519.99, 65503.0, 65505.0, 1e4, -3e4])
    sets["near_max_q4"] = near([-524159.97, 524159.97, 524032.0, -524032.0, 524100.0, 65520.0])
    sets["near_max_q8"] = near([127.0 * 65504.0, -127.0 * 65504.0, 8321039.0, -8321039.0, 8321000.0])

    # refused inputs (status erange for some or all types)
    def with_value(v, at):
        x = randn(768)
        x[at] = v
        return x

    sets["bad_nan"] = with_value(float("nan"), 100)
    sets["bad_inf"] = with_value(float("inf"), 700)
    sets["bad_ninf"] = with_value(float("-inf"), 0)
    sets["over_nf"] = with_value(65520.0, 33)           # F16(65520) = inf
    sets["over_q4"] = with_value(-524160.0, 5)          # d = 65520
    sets["over_q8"] = with_value(127.0 * 65520.0, 500)  # d = 65520

    # realistic rows: MoLE N=4, d=768; MoLKV N=2, dk=128, d=768
    r = randn(4 * 768).reshape(4, 768) * f32([0.03, 0.01, 0.12, 0.05])[:, None]
    r[:, ::97] *= 8.0
    sets["row_mole"] = r.reshape(-1)
    k = randn(2 * 128) * 0.5
    v = randn(2 * 768) * 0.04
    sets["row_molkv"] = torch.cat([k, v])
    return sets


def make_quant(outdir):
    qdir = os.path.join(outdir, "quant")
    if os.path.exists(qdir):
        shutil.rmtree(qdir)
    os.makedirs(os.path.join(qdir, "in"))
    sets = quant_inputs()
    index = []
    for name in sorted(sets):
        x = sets[name]
        assert x.dtype == torch.float32 and x.dim() == 1
        write_f32(os.path.join(qdir, "in", name + ".f32"), x)
    for dtype, block in QUANT_CONFIGS:
        sub = "%s-%d" % (Q.NAMES[dtype], block)
        os.makedirs(os.path.join(qdir, sub))
        for name in sorted(sets):
            x = sets[name]
            if x.numel() % block:
                continue
            try:
                data = Q.quantize(dtype, block, x)
            except Q.QuantRangeError:
                index.append("%s %d %s %d erange\n" % (Q.NAMES[dtype], block, name, x.numel()))
                continue
            y = Q.dequantize(dtype, block, data, x.numel())
            with open(os.path.join(qdir, sub, name + ".q"), "wb") as f:
                f.write(data)
            write_f32(os.path.join(qdir, sub, name + ".f32"), y)
            index.append("%s %d %s %d ok\n" % (Q.NAMES[dtype], block, name, x.numel()))
    write_text(os.path.join(qdir, "index.txt"), "".join(index))
    return len(index)


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
        if w not in known and w != "quant":
            fail("unknown case %r (known: %s, quant)" % (w, ", ".join(known)))
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
    if not want or "quant" in want:
        t = time.time()
        try:
            nq = make_quant(outdir)
        except (Q.QuantError, OSError) as e:
            fail("quant: %s" % e)
        sys.stderr.write("  %-20s %.2fs (%d vectors)\n" % ("quant", time.time() - t, nq))
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
