#!/usr/bin/python3
"""check_ref.py [FIXTURE_DIR]: self-checks of the PyTorch reference.

Without arguments it checks lutdb_ref.py against itself and against an
independent, deliberately naive float64 numpy implementation written below
(per-position, per-head, per-(s,n) loops).  With FIXTURE_DIR (the output of
make_fixtures.py) it also re-reads every case through the safetensors reader
and checks the stored reference outputs.  Last line: "N passed, N failed";
exit status 1 if anything failed.  Run with /usr/bin/python3.
"""

import json
import math
import os
import struct
import sys
import tempfile
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import lutdb_ref as R  # noqa: E402

RESULTS = {"passed": 0, "failed": 0}


def check(name, fn):
    try:
        msg = fn()
        RESULTS["passed"] += 1
        print("ok   %s%s" % (name, (": " + msg) if msg else ""))
    except Exception as e:  # noqa: BLE001 - report any failure
        RESULTS["failed"] += 1
        print("FAIL %s: %s" % (name, e))
        if os.environ.get("CHECK_REF_TRACE"):
            traceback.print_exc()


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def maxdiff(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    expect(a.shape == b.shape, "shape %s vs %s" % (a.shape, b.shape))
    return float(np.max(np.abs(a - b))) if a.size else 0.0


# ---------------------------------------------------------------------------
# independent naive float64 implementation (shares nothing with lutdb_ref
# except the config object and the tensor names)

def np_weights(w):
    return {k: v.to(torch.float32).numpy().astype(np.float64) for k, v in w.items()}


def np_rms(x, g, eps):
    return g * (x / math.sqrt(float(np.mean(x * x)) + eps))


def np_gelu(x):
    return np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x.ravel()]).reshape(x.shape)


def np_expert(W, p, n, u):
    return W[p + "experts.%d.down_proj.weight" % n] @ np_gelu(W[p + "experts.%d.up_proj.weight" % n] @ u)


def np_rope(vec, pos, theta):
    """Rotate one head vector (pairs i, i+hd/2) by pos * theta^(-2i/hd)."""
    hd = vec.shape[0]
    half = hd // 2
    out = np.empty_like(vec)
    for i in range(half):
        # float32 inverse frequency and angle, as in the spec
        inv = np.float32(1.0) / np.float32(np.float32(theta) ** np.float32(2 * i / hd))
        ang = float(np.float32(np.float32(pos) * inv))
        c, s = math.cos(ang), math.sin(ang)
        out[i] = vec[i] * c - vec[i + half] * s
        out[i + half] = vec[i + half] * c + vec[i] * s
    return out


def np_slots(cfg, W, l, tok):
    """(keys [N][dk] or None, values [N][d]) of token tok at layer l."""
    p = "model.layers.%d." % l
    if cfg.table_name in W:
        row = W[cfg.table_name][tok]
        base = l * cfg.N * cfg.rowlen
        if cfg.family == "mole":
            return None, [row[base + n * cfg.d: base + (n + 1) * cfg.d] for n in range(cfg.N)]
        keys = [row[base + n * cfg.dk: base + (n + 1) * cfg.dk] for n in range(cfg.N)]
        vb = base + cfg.N * cfg.dk
        return keys, [row[vb + n * cfg.d: vb + (n + 1) * cfg.d] for n in range(cfg.N)]
    u = np_rms(W["model.embed_tokens.weight"][tok], W[p + "expert_layernorm.weight"], cfg.eps)
    vals = [np_expert(W, p, n, u) for n in range(cfg.N)]
    if cfg.family == "mole":
        return None, vals
    kk = W[p + "expert_keys.weight"] @ u
    return [kk[n * cfg.dk:(n + 1) * cfg.dk] for n in range(cfg.N)], vals


def np_forward(cfg, w, ids):
    """Naive float64 forward: logits [T, V]."""
    W = np_weights(w)
    T, hd = len(ids), cfg.hd
    group = cfg.heads // cfg.kv_heads
    emb = [W["model.embed_tokens.weight"][i] for i in ids]
    h = [e.copy() for e in emb]
    for l in range(cfg.L):
        p = "model.layers.%d." % l
        xs = [np_rms(h[t], W[p + "input_layernorm.weight"], cfg.eps) for t in range(T)]
        Q = [W[p + "self_attn.q_proj.weight"] @ x for x in xs]
        K = [W[p + "self_attn.k_proj.weight"] @ x for x in xs]
        Vv = [W[p + "self_attn.v_proj.weight"] @ x for x in xs]
        Q = [np.concatenate([np_rope(q[j * hd:(j + 1) * hd], t, cfg.theta) for j in range(cfg.heads)])
             for t, q in enumerate(Q)]
        K = [np.concatenate([np_rope(k[j * hd:(j + 1) * hd], t, cfg.theta) for j in range(cfg.kv_heads)])
             for t, k in enumerate(K)]
        for t in range(T):
            att = np.zeros(cfg.heads * hd)
            for j in range(cfg.heads):
                kv = j // group
                sc = [float(Q[t][j * hd:(j + 1) * hd] @ K[s][kv * hd:(kv + 1) * hd]) / math.sqrt(hd)
                      for s in range(t + 1)]
                mx = max(sc)
                ex = [math.exp(v - mx) for v in sc]
                z = sum(ex)
                for s in range(t + 1):
                    att[j * hd:(j + 1) * hd] += ex[s] / z * Vv[s][kv * hd:(kv + 1) * hd]
            h[t] = h[t] + W[p + "self_attn.o_proj.weight"] @ att
        slots = [np_slots(cfg, W, l, tok) for tok in ids]
        newh = []
        for t in range(T):
            x = np_rms(h[t], W[p + "post_attention_layernorm.weight"], cfg.eps)
            m = W[p + "mlp.down_proj.weight"] @ np_gelu(W[p + "mlp.up_proj.weight"] @ x)
            if cfg.family == "mole":
                r = W[p + "router.weight"] @ x
                g = np.exp(r - r.max())
                g /= g.sum()
                E = sum(g[n] * slots[t][1][n] for n in range(cfg.N))
            else:
                E = molkv_bruteforce(cfg, W[p + "expert_query.weight"] @ x, slots, t)
            newh.append((h[t] + m) + E)
        h = newh
    head = W["model.embed_tokens.weight"] if cfg.tied else W["lm_head.weight"]
    return np.stack([head @ np_rms(v, W["model.norm.weight"], cfg.eps) for v in h])


def molkv_bruteforce(cfg, q, slots, t):
    """Expert attention at position t by explicit loops over heads and (s, n)."""
    ck, cv = cfg.dk // cfg.H, cfg.d // cfg.H
    out = np.zeros(cfg.d)
    lo = 0 if cfg.W == 0 else max(0, t - cfg.W + 1)
    for hh in range(cfg.H):
        qh = q[hh * ck:(hh + 1) * ck]
        pairs = []
        for s in range(lo, t + 1):
            keys, vals = slots[s]
            for n in range(cfg.N):
                score = float(qh @ keys[n][hh * ck:(hh + 1) * ck]) / math.sqrt(ck)
                pairs.append((score, vals[n][hh * cv:(hh + 1) * cv]))
        mx = max(sc for sc, _ in pairs)
        z = sum(math.exp(sc - mx) for sc, _ in pairs)
        for sc, v in pairs:
            out[hh * cv:(hh + 1) * cv] += math.exp(sc - mx) / z * v
    return out


def np_eval(cfg, w, ids):
    total, count = 0.0, 0
    C = cfg.max_pos
    for start in range(0, len(ids), C):
        win = ids[start:start + C]
        if len(win) < 2:
            continue
        lg = np_forward(cfg, w, win)
        for t in range(len(win) - 1):
            row = lg[t]
            mx = row.max()
            total += -(row[win[t + 1]] - mx - math.log(np.exp(row - mx).sum()))
            count += 1
    return total / count, count


# ---------------------------------------------------------------------------
# small models for the checks

def small_cfg(family, **kw):
    base = dict(V=61, d=32, I=40, L=2, heads=4, N=3, dtype="F32", max_pos=8)
    if family == "molkv":
        base.update(dk=16, H=2, W=0)
    base.update(kw)
    return R.Config.from_dict(R.config_dict(family, **base))


def ids_for(cfg, n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.V, [n], generator=g).tolist()


VARIANTS = [
    ("mole", {}),
    ("mole", dict(kv_heads=2, tied=True, theta=500000.0)),
    ("molkv", dict(W=0, H=2, dk=16)),
    ("molkv", dict(W=3, H=4, dk=16, kv_heads=1)),
    ("molkv", dict(W=1, H=1, dk=8, tied=True)),
]


def vname(fam, kw):
    return fam + "(" + ",".join("%s=%s" % (k, kw[k]) for k in sorted(kw)) + ")"


# ---------------------------------------------------------------------------
# checks

def check_config_defaults():
    c = {"architectures": ["MoleForCausalLM"], "model_type": "llama", "vocab_size": 10,
         "hidden_size": 8, "intermediate_size": 12, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_experts": 2, "rope_scaling": None}
    cfg = R.Config.from_dict(c)
    expect(cfg.family == "mole", "family")
    expect(cfg.kv_heads == 2, "kv_heads default")
    expect(cfg.theta == 10000.0, "rope_theta default")
    expect(cfg.tied is False, "tie default")
    expect(cfg.eps == 1e-6 and cfg.max_pos == 2048, "eps/max_pos default")
    expect(cfg.bos == 1 and cfg.eos == 2, "bos/eos default")
    c2 = dict(c, architectures=["MolkvForCausalLM"], model_type="molkv", kv_expert_dim=4,
              kv_expert_heads=2, num_key_value_heads=1, tie_word_embeddings=True, rope_theta=None)
    cfg2 = R.Config.from_dict(c2)
    expect(cfg2.family == "molkv" and cfg2.W == 0 and cfg2.kv_heads == 1 and cfg2.tied, "molkv parse")
    expect(cfg2.theta == 10000.0, "null rope_theta -> default")
    expect(cfg2.rowlen == 12 and cfg2.table_name == "model.kv_table.weight", "molkv row")
    for bad in (dict(c, rope_scaling={"type": "linear", "factor": 2.0}),
                {k: v for k, v in c.items() if k != "num_experts"},
                dict(c2, kv_expert_heads=3)):
        try:
            R.Config.from_dict(bad)
        except R.RefError:
            continue
        raise AssertionError("bad config accepted: %r" % bad)


def check_table_equals_direct(fam, kw):
    def run():
        cfg = small_cfg(fam, **kw)
        w = R.init_training(cfg, 11)
        ids = ids_for(cfg, 8, 3)
        direct = R.forward(cfg, w, ids)
        table = R.build_table(cfg, w)
        via_table = R.forward(cfg, w, ids, use_table=table)
        rep = R.reparameterize(cfg, w, "F32")
        R.check_names(cfg, rep)
        via_rep = R.forward(cfg, rep, ids)
        d1, d2 = maxdiff(direct, via_table), maxdiff(direct, via_rep)
        expect(d1 < 1e-5 and d2 < 1e-5, "direct vs table %.3g, vs rep %.3g" % (d1, d2))
        return "max %.2g" % max(d1, d2)
    return run


def check_table_layout(fam, kw):
    """Table slots, sliced by hand, equal experts computed in float64."""
    def run():
        cfg = small_cfg(fam, **kw)
        w = R.init_training(cfg, 5)
        table = R.build_table(cfg, w).numpy()
        expect(table.shape == (cfg.V, cfg.L * cfg.N * cfg.rowlen), "table shape %s" % (table.shape,))
        W = np_weights(w)
        worst = 0.0
        for tok in (0, 7, cfg.V - 1):
            for l in range(cfg.L):
                keys, vals = np_slots(cfg, W, l, tok)
                base = l * cfg.N * cfg.rowlen
                for n in range(cfg.N):
                    if cfg.family == "mole":
                        got_v = table[tok, base + n * cfg.d: base + (n + 1) * cfg.d]
                    else:
                        got_k = table[tok, base + n * cfg.dk: base + (n + 1) * cfg.dk]
                        vb = base + cfg.N * cfg.dk
                        got_v = table[tok, vb + n * cfg.d: vb + (n + 1) * cfg.d]
                        worst = max(worst, maxdiff(got_k, keys[n]))
                    worst = max(worst, maxdiff(got_v, vals[n]))
        expect(worst < 1e-5, "slot diff %.3g" % worst)
        return "max %.2g" % worst
    return run


def check_vs_naive(fam, kw, form):
    def run():
        cfg = small_cfg(fam, **kw)
        w = R.init_training(cfg, 21)
        if form == "rep":
            w = R.reparameterize(cfg, w, "F16")
        ids = ids_for(cfg, 7, 4)
        got = R.forward(cfg, w, ids).numpy()
        want = np_forward(cfg, w, ids)
        d = maxdiff(got, want)
        expect(d < 1e-5, "torch vs naive float64: %.3g" % d)
        return "max %.2g" % d
    return run


def check_molkv_window_matters():
    """W > 0 really changes the result, W >= T equals W = 0."""
    cfg0 = small_cfg("molkv", W=0)
    w = R.init_training(cfg0, 8)
    ids = ids_for(cfg0, 8, 9)
    a = R.forward(cfg0, w, ids)
    b = R.forward(small_cfg("molkv", W=2), w, ids)
    c = R.forward(small_cfg("molkv", W=8), w, ids)
    expect(maxdiff(a[:2], b[:2]) < 1e-6, "first W positions must agree")
    expect(maxdiff(a, b) > 1e-3, "window has no effect")
    expect(maxdiff(a, c) < 1e-6, "W >= T must equal W = 0")


def check_gqa_and_rope():
    """GQA equals MHA with k/v heads duplicated; RoPE is relative (a shift of
    all positions leaves q.k unchanged)."""
    cfg = small_cfg("mole", kv_heads=2)
    w = R.init_training(cfg, 3)
    ids = ids_for(cfg, 6, 1)
    cfg_mha = small_cfg("mole", kv_heads=4)
    w2 = dict(w)
    hd = cfg.hd
    for l in range(cfg.L):
        for nm in ("k_proj", "v_proj"):
            key = "model.layers.%d.self_attn.%s.weight" % (l, nm)
            blocks = [w[key][j * hd:(j + 1) * hd] for j in range(cfg.kv_heads)]
            w2[key] = torch.cat([blocks[j // 2] for j in range(cfg.heads)], 0)
    d = maxdiff(R.forward(cfg, w, ids), R.forward(cfg_mha, w2, ids))
    expect(d < 1e-5, "GQA vs duplicated MHA %.3g" % d)
    cos, sin = R.rope_cos_sin(cfg, 12)
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(hd, generator=g), torch.randn(hd, generator=g)
    rq = lambda v, p: v * cos[p] + R.rotate_half(v) * sin[p]  # noqa: E731
    d1 = float(rq(q, 5) @ rq(k, 2)) - float(rq(q, 9) @ rq(k, 6))
    expect(abs(d1) < 1e-4, "rope not relative: %.3g" % d1)


def check_safetensors_roundtrip():
    g = torch.Generator().manual_seed(1)
    tensors = {
        "b.f32": torch.randn(3, 5, generator=g),
        "a.f16": torch.randn(7, generator=g).to(torch.float16),
        "c.bf16": torch.randn(2, 3, 2, generator=g).to(torch.bfloat16),
        "d.scalarish": torch.randn(1, generator=g),
        "e.empty": torch.zeros(0, 4),
    }
    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "x.safetensors")
        R.save_safetensors(path, tensors)
        back = R.load_safetensors(path)
        expect(set(back) == set(tensors), "names")
        for k, t in tensors.items():
            expect(back[k].dtype == t.dtype and list(back[k].shape) == list(t.shape), k + " dtype/shape")
            expect(torch.equal(back[k].view(-1).float(), t.view(-1).float()), k + " values (reader)")
        # independent parse with numpy only
        with open(path, "rb") as f:
            buf = f.read()
        n = struct.unpack("<Q", buf[:8])[0]
        expect(n % 8 == 0, "header length %d not a multiple of 8" % n)
        hdr_txt = buf[8:8 + n].decode()
        expect(hdr_txt == hdr_txt.rstrip(" ") + " " * (len(hdr_txt) - len(hdr_txt.rstrip(" "))), "padding")
        hdr = json.loads(hdr_txt)
        expect(hdr.get("__metadata__") == {"format": "pt"}, "metadata")
        names = sorted(k for k in hdr if k != "__metadata__")
        off = 0
        for k in names:  # sorted by name and contiguous
            b, e = hdr[k]["data_offsets"]
            expect(b == off, "%s not contiguous" % k)
            off = e
        expect(8 + n + off == len(buf), "trailing bytes")
        data = buf[8 + n:]
        npdt = {"F32": "<f4", "F16": "<f2", "BF16": "<u2"}
        for k, t in tensors.items():
            info = hdr[k]
            b, e = info["data_offsets"]
            arr = np.frombuffer(data[b:e], dtype=npdt[info["dtype"]])
            if info["dtype"] == "BF16":
                arr = (arr.astype(np.uint32) << 16).view(np.float32)
            arr = arr.astype(np.float32).reshape(info["shape"])
            expect(np.array_equal(arr, t.float().numpy()), k + " values (numpy)")
        # corrupt header length must be rejected
        bad = os.path.join(td, "bad.safetensors")
        with open(bad, "wb") as f:
            f.write(struct.pack("<Q", len(buf)) + buf[8:])
        try:
            R.load_safetensors(bad)
            raise AssertionError("bad header length accepted")
        except R.RefError:
            pass


def check_sharded_checkpoint():
    cfg = small_cfg("mole", dtype="BF16")
    cd = R.config_dict("mole", V=61, d=32, I=40, L=2, heads=4, N=3, dtype="BF16", max_pos=8)
    w = R.cast_weights(R.init_training(cfg, 2), "BF16")
    with tempfile.TemporaryDirectory() as td:
        R.save_checkpoint(td, cd, w, shards=3)
        files = sorted(os.listdir(td))
        expect(files == ["config.json", "model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                         "model-00003-of-00003.safetensors", "model.safetensors.index.json"], str(files))
        with open(os.path.join(td, "model.safetensors.index.json")) as f:
            idx = json.load(f)
        total = sum(R.ST_DTYPES["BF16"][1] * t.numel() for t in w.values())
        expect(idx["metadata"]["total_size"] == total, "total_size")
        expect(set(idx["weight_map"]) == set(w), "weight_map names")
        cfg2, w2 = R.load_checkpoint(td)
        expect(all(torch.equal(w[k].float(), w2[k].float()) for k in w), "values")
        expect(all(w2[k].dtype == torch.bfloat16 for k in w2), "dtype kept")


def check_eval_windowing():
    cfg = small_cfg("molkv", W=0, max_pos=8)
    w = R.init_training(cfg, 6)
    C = cfg.max_pos
    # short sequence: plain mean cross entropy
    ids = ids_for(cfg, 6, 12)
    loss, n = R.eval_loss(cfg, w, ids)
    ce = float(torch.nn.functional.cross_entropy(R.forward(cfg, w, ids)[:-1], torch.tensor(ids[1:])))
    expect(n == 5 and abs(loss - ce) < 1e-6, "short: %s %s vs %s" % (n, loss, ce))
    # 2C+3 tokens: windows of C, C, 3 -> (C-1)+(C-1)+2 predictions
    ids = ids_for(cfg, 2 * C + 3, 13)
    loss, n = R.eval_loss(cfg, w, ids)
    expect(n == 2 * (C - 1) + 2, "count %d" % n)
    parts = [ids[0:C], ids[C:2 * C], ids[2 * C:]]
    tot = sum(float(torch.nn.functional.cross_entropy(R.forward(cfg, w, p)[:-1], torch.tensor(p[1:]),
                                                      reduction="sum")) for p in parts)
    expect(abs(loss - tot / n) < 1e-5, "window mean %s vs %s" % (loss, tot / n))
    nl, nn = np_eval(cfg, w, ids)
    expect(nn == n and abs(nl - loss) < 1e-5, "naive eval %s vs %s" % (nl, loss))
    # scoring as one long sequence (positions not restarted) must differ
    cfg_long = small_cfg("molkv", W=0, max_pos=64)
    long_loss, _ = R.eval_loss(cfg_long, w, ids)
    expect(abs(long_loss - loss) > 1e-4, "windowing has no effect")
    # 2C+1 tokens: last window has one token and predicts nothing
    ids = ids_for(cfg, 2 * C + 1, 14)
    l1, n1 = R.eval_loss(cfg, w, ids)
    l2, n2 = R.eval_loss(cfg, w, ids[:2 * C])
    expect(n1 == n2 == 2 * (C - 1) and l1 == l2, "trailing single token")
    return "loss %.4f over %d" % (loss, n)


def check_greedy():
    expect(R.argmax_lowest(torch.tensor([1.0, 3.0, 3.0, 2.0])) == 1, "tie -> lowest id")
    expect(R.argmax_lowest(torch.tensor([5.0, 5.0])) == 0, "tie at 0")
    cfg = small_cfg("mole")
    w = R.init_training(cfg, 9)
    prompt = ids_for(cfg, 4, 15)
    got = R.greedy(cfg, w, prompt, 5)
    seq = list(prompt)
    for _ in range(5):
        row = np_forward(cfg, w, seq)[-1]
        seq.append(int(np.argmax(row)))
    expect(got == seq[len(prompt):], "greedy %s vs naive %s" % (got, seq[len(prompt):]))


def check_reparam_dtypes():
    """BF16 training weights -> float32 table from the exact upcast -> F16."""
    cfg = small_cfg("molkv", dtype="BF16")
    stored = R.cast_weights(R.init_training(cfg, 4), "BF16")
    rep = R.reparameterize(cfg, stored, "F16")
    expect(all(t.dtype == torch.float16 for t in rep.values()), "rep not all F16")
    expect(not any(".experts." in k or "expert_keys" in k or "expert_layernorm" in k for k in rep),
           "training tensors left in rep")
    expect(all(("layers.%d.expert_query.weight" % l) in "".join(rep) for l in range(cfg.L)),
           "expert_query dropped")
    t32 = R.build_table(cfg, stored)
    expect(torch.equal(rep[cfg.table_name], t32.to(torch.float16)), "F16 table is not a cast of f32 table")
    emb = stored["model.embed_tokens.weight"].float().to(torch.float16)
    expect(torch.equal(rep["model.embed_tokens.weight"], emb), "embed cast")


def check_names_rejects():
    cfg = small_cfg("mole")
    w = R.init_training(cfg, 1)
    w.pop("model.layers.1.router.weight")
    try:
        R.check_names(cfg, w)
        raise AssertionError("missing router accepted")
    except R.RefError:
        pass


# ---------------------------------------------------------------------------
# fixture checks

def read_ids(path):
    with open(path) as f:
        return [int(x) for x in f.read().strip().split(",")]


def read_f32(path, shape):
    a = np.fromfile(path, dtype="<f4")
    expect(a.size == int(np.prod(shape)), "%s: %d floats, want %s" % (path, a.size, shape))
    return a.reshape(shape)


def read_eval(path):
    with open(path) as f:
        parts = dict(kv.split("=") for kv in f.read().split())
    return float(parts["loss"]), int(parts["tokens"])


def check_fixture_case(case):
    def run():
        ref = os.path.join(case, "ref")
        with open(os.path.join(ref, "meta.json")) as f:
            meta = json.load(f)
        cfg, w = R.load_checkpoint(os.path.join(case, "ckpt"))
        expect(cfg.family == meta["family"] and cfg.V == meta["V"] and cfg.N == meta["N"], "meta/config")
        expect(R.is_rep(w) == (meta["form"] == "rep"), "form")
        dts = {R.TORCH_TO_ST[t.dtype] for t in w.values()}
        expect(dts == {meta["dtype"]}, "dtypes %s" % dts)
        table = read_f32(os.path.join(ref, "table.f32"), [cfg.V, cfg.table_cols])
        want_table = R.build_table(cfg, w) if meta["form"] == "train" else w[cfg.table_name].float()
        expect(np.array_equal(table, want_table.numpy()), "table.f32")
        prompt = read_ids(os.path.join(ref, "prompt.ids"))
        expect(5 <= len(prompt) <= 9, "prompt length")
        logits = read_f32(os.path.join(ref, "logits.f32"), [len(prompt), cfg.V])
        expect(np.array_equal(logits, R.forward(cfg, w, prompt).numpy()), "logits.f32 not reproducible")
        d = maxdiff(logits, np_forward(cfg, w, prompt))
        expect(d < 1e-5, "logits vs naive float64 %.3g" % d)
        greedy = read_ids(os.path.join(ref, "greedy.ids"))
        expect(len(greedy) == 8 and greedy == R.greedy(cfg, w, prompt, 8), "greedy.ids")
        ev = read_ids(os.path.join(ref, "eval.ids"))
        loss, n = read_eval(os.path.join(ref, "eval.txt"))
        l2, n2 = R.eval_loss(cfg, w, ev)
        expect(n == n2 and abs(loss - l2) < 1e-7, "eval.txt")
        msg = "naive %.2g" % d
        if meta["form"] == "train":
            rcfg, rw = R.load_checkpoint(os.path.join(ref, "rep_ckpt"))
            expect(all(t.dtype == torch.float16 for t in rw.values()), "rep_ckpt not F16")
            rw2 = R.reparameterize(cfg, w, "F16")
            expect(set(rw) == set(rw2) and all(torch.equal(rw[k], rw2[k]) for k in rw), "rep_ckpt content")
            l16 = read_f32(os.path.join(ref, "logits_rep_f16.f32"), [len(prompt), cfg.V])
            expect(np.array_equal(l16, R.forward(rcfg, rw, prompt).numpy()), "logits_rep_f16.f32")
            g16 = read_ids(os.path.join(ref, "greedy_rep_f16.ids"))
            expect(g16 == R.greedy(rcfg, rw, prompt, 8), "greedy_rep_f16.ids")
            loss16, n16 = read_eval(os.path.join(ref, "eval_rep_f16.txt"))
            expect(n16 == n, "eval_rep_f16 count")
            msg += ", rep_f16 vs train %.2g" % maxdiff(l16, logits)
        return msg
    return run


def main(argv):
    torch.set_num_threads(1)
    check("config defaults and rejects", check_config_defaults)
    for fam, kw in VARIANTS:
        check("table == direct " + vname(fam, kw), check_table_equals_direct(fam, kw))
    for fam, kw in (VARIANTS[0], VARIANTS[2]):
        check("table layout " + vname(fam, kw), check_table_layout(fam, kw))
    for fam, kw in VARIANTS:
        check("vs naive float64, training " + vname(fam, kw), check_vs_naive(fam, kw, "train"))
    check("vs naive float64, rep F16 mole", check_vs_naive("mole", {}, "rep"))
    check("vs naive float64, rep F16 molkv W=3", check_vs_naive("molkv", dict(W=3, H=2, dk=16), "rep"))
    check("molkv window semantics", check_molkv_window_matters)
    check("GQA and RoPE", check_gqa_and_rope)
    check("safetensors roundtrip (reader + numpy)", check_safetensors_roundtrip)
    check("sharded checkpoint + index", check_sharded_checkpoint)
    check("eval windowing", check_eval_windowing)
    check("greedy (ties, vs naive)", check_greedy)
    check("reparameterize dtypes", check_reparam_dtypes)
    check("check_names rejects", check_names_rejects)
    if len(argv) > 1:
        root = argv[1]
        cases = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        if not cases:
            check("fixtures present", lambda: expect(False, "no cases in %s" % root))
        for c in cases:
            check("fixture " + c, check_fixture_case(os.path.join(root, c)))
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
