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
import quant_ref as Q  # noqa: E402

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
# block-quantized types (quant_ref.py, spec/FORMAT.md section 10)

def qblock(vals, n=32):
    return torch.tensor(list(vals) + [0.0] * (n - len(vals)), dtype=torch.float32)


def check_quant_nf_codes():
    for k, code in ((4, Q.NF4_CODE), (3, Q.NF3_CODE)):
        expect(all(float(np.float32(c)) == c for c in code), "NF%d values are not float32" % k)
        got = Q.derive_nf_code(k)
        expect(got == code, "NF%d derivation %s != pinned %s" % (k, got, code))
        expect(len(code) == 2 ** k and code[0] == -1.0 and code[-1] == 1.0, "NF%d ends" % k)
        expect(code[2 ** (k - 1) - 1] == 0.0 and code == sorted(code), "NF%d zero/order" % k)
    # the issue's list, digit for digit
    issue = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
             -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
             0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
             0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]
    expect(Q.NF4_CODE == issue, "NF4 != the issue's list")
    # the offsets follow 1 - (1/(2n) + 1/(2(n-1)))/2, to 7 decimal places
    for k in (3, 4):
        n = 2 ** k
        expect(Q.NF_OFFSET[k] == round(1 - (1 / (2 * n) + 1 / (2 * (n - 1))) / 2, 7), "NF%d offset" % k)
    return "NF3 " + " ".join("%.9g" % c for c in Q.NF3_CODE)


def check_quant_nf_split():
    """The threshold form equals the float32-distance argmin, at and around
    every threshold and on random z (including |z| > 1)."""
    g = torch.Generator().manual_seed(77)
    for code in (Q.NF4_CODE, Q.NF3_CODE):
        t = torch.tensor(Q.nf_split(code), dtype=torch.float32)
        c = torch.tensor(code, dtype=torch.float32)
        z = torch.cat([t, torch.nextafter(t, t + 1), torch.nextafter(t, t - 1), c,
                       (torch.rand(200000, generator=g) * 3.2 - 1.6)])
        by_dist = (z[:, None] - c[None, :].expand(z.numel(), c.numel())).abs().argmin(dim=1)
        by_split = (z[:, None] > t[None, :]).sum(dim=1)
        expect(torch.equal(by_dist, by_split), "threshold form disagrees with argmin")
        for i in range(len(t)):
            expect(int(by_dist[i]) == i and int(by_dist[len(t) + i]) == i + 1, "threshold %d not tight" % i)
            mid = (code[i] + code[i + 1]) / 2
            expect(abs(float(t[i]) - mid) < 1e-7, "threshold %d far from the midpoint" % i)


def check_quant_float32_ops():
    """The torch steps used by quant_ref are IEEE float32 operations: they
    equal numpy's float32 arithmetic (another implementation) bit for bit,
    and _roundf is C's roundf (checked in float64, where it is exact)."""
    g = torch.Generator().manual_seed(78)
    a = torch.randn(50000, generator=g) * torch.exp(torch.randn(50000, generator=g) * 8)
    b = torch.randn(50000, generator=g) * torch.exp(torch.randn(50000, generator=g) * 8)
    an, bn = a.numpy(), b.numpy()
    with np.errstate(all="ignore"):
        expect(np.array_equal(Q._div(a, b).numpy(), an / bn), "div")
        expect(np.array_equal(Q._div(a, torch.full_like(a, 127.0)).numpy(), an / np.float32(127)), "div 127")
        expect(np.array_equal((a * b).numpy(), an * bn), "mul")
        expect(np.array_equal((a + torch.full_like(a, 8.5)).numpy(), an + np.float32(8.5)), "add")
        expect(np.array_equal((a - b).numpy(), an - bn), "sub")
        expect(np.array_equal(Q._recip_or_zero(b).numpy(),
                              np.where(np.isfinite(np.float32(1) / bn), np.float32(1) / bn, 0)), "recip")
        expect(np.array_equal(a.half().numpy(), an.astype(np.float16)), "F16 RNE")
    v = torch.cat([torch.arange(-300, 301, dtype=torch.float32) / 2,
                   torch.tensor([0.49999997, -0.49999997, 0.5, -0.5, 1.4999999, 2.5000002, -0.0, 8388607.5]),
                   torch.randn(20000, generator=g) * 100])
    want = [math.copysign(math.floor(abs(float(x)) + 0.5), float(x)) for x in v]
    got = Q._roundf(v).tolist()
    expect(got == want, "roundf")


def check_quant_hand_blocks():
    """Blocks whose bytes were worked out by hand (spec rules, exact
    arithmetic); zeros fill each block to 32 values."""
    cases = [
        # amax 127: d = 1 (F16 3C00), id = 1, q = roundf(x): halves go away from 0
        (Q.Q8_0, [127.0, -63.5, 0.5, -0.5, 1.4999999, 2.5, -126.5, 100.25],
         "003c 7fc001ff010381 64" + "00" * 24, [127.0, -64.0, 1.0, -1.0, 1.0, 3.0, -127.0, 100.0]),
        # amax 1: d = fl(1/127), F16 2008 = 1032 * 2^-17; id = fl(1/d) = 127 exactly
        (Q.Q8_0, [1.0, 0.5, -0.25, 0.0039370079],
         "0820 7f40e001" + "00" * 28, [0.99993896484375, 0.50390625, -0.251953125, 0.00787353515625]),
        # max -8 (the later +8 ties, first wins): d = 1; q = min(15, trunc(x + 8.5));
        # byte j = q[j] | q[j+16] << 4 and q[16..31] = 8
        (Q.Q4_0, [-8.0, 7.0, 0.5, -0.5, 3.2, -7.9, 8.0],
         "003c 808f89888b808f" + "88" * 9, [-8.0, 7.0, 1.0, 0.0, 3.0, -8.0, 7.0, 0.0]),
        # positive max 4: d = -0.5 (F16 B800), id = -2; zeros decode to -0.0
        (Q.Q4_0, [4.0, -1.0, 2.0], "00b8 808a84" + "88" * 13, [4.0, -1.0, 2.0, -0.0]),
        # s = 2 (F16 4000); z = x/2 = 1, -1, 0, .5, .25, -.125, .04, .95 ->
        # 15, 0, 7, 12, 10, 6, 8, 15, then 7; low nibble first
        (Q.NF4, [2.0, -2.0, 0.0, 1.0, 0.5, -0.25, 0.08, 1.9],
         "0040 0fc76af8" + "77" * 12,
         [2.0, -2.0, 0.0, 0.8814196586608887, 0.4922246038913727, -0.1821000725030899, 0.15916059911251068, 2.0]),
        # s = 4 (F16 4400); z = -1, 1, .25, -.25, .5, .75, .075, 0 -> 0 7 4 2 5 6 3 3:
        # w = 0 | 7<<3 | 4<<6 | 2<<9 | 5<<12 | 6<<15 | 3<<18 | 3<<21 = 0x6F5538; zero groups 0x6DB6DB
        (Q.NF3, [-4.0, 4.0, 1.0, -1.0, 2.0, 3.0, 0.3], "0044 38556f" + "dbb66d" * 3,
         [-4.0, 4.0, 0.7333499193191528, -0.9877259135246277, 1.5279757976531982, 2.491943359375, 0.0]),
    ]
    for dtype, vals, hexbytes, deq in cases:
        x = qblock(vals)
        want = bytes.fromhex(hexbytes.replace(" ", ""))
        got = Q.quantize(dtype, 32, x)
        expect(got == want, "%s %s: %s != %s" % (Q.NAMES[dtype], vals[:3], got.hex(), want.hex()))
        y = Q.dequantize(dtype, 32, got, 32)
        expect(y[:len(deq)].tolist() == deq, "%s dequant %s" % (Q.NAMES[dtype], y[:len(deq)].tolist()))
        expect(all(math.copysign(1, a) == math.copysign(1, b) for a, b in zip(y.tolist(), deq)), "signs of zeros")


def check_quant_zero_blocks():
    for zero in (0.0, -0.0):
        x = torch.full([64], zero, dtype=torch.float32)
        # Q4_0: max stays +0.0, d = +0/-8 = -0.0 (F16 8000), q = 8, values -0.0
        for dtype, block, one in ((Q.Q8_0, 32, "0000" + "00" * 32), (Q.Q4_0, 32, "0080" + "88" * 16),
                                  (Q.NF4, 64, "0000" + "77" * 32), (Q.NF3, 64, "0000" + "dbb66d" * 8)):
            b = Q.quantize(dtype, block, x)
            expect(b == bytes.fromhex(one) * (64 // block), "%s zeros: %s" % (Q.NAMES[dtype], b.hex()))
            y = Q.dequantize(dtype, block, b, 64)
            neg = dtype == Q.Q4_0
            expect(all(v == 0 and (math.copysign(1, v) < 0) == neg for v in y.tolist()), "zero signs")


def check_quant_refusals():
    def refused(dtype, block, x):
        try:
            Q.quantize(dtype, block, x)
        except Q.QuantRangeError:
            return True
        return False

    for dtype in (Q.Q8_0, Q.Q4_0, Q.NF4, Q.NF3):
        for bad in (float("nan"), float("inf"), float("-inf")):
            x = qblock([1.0])
            x[17] = bad
            expect(refused(dtype, 32, x), "%s accepted %s" % (Q.NAMES[dtype], bad))
    # F16 overflow limits: the first refused magnitude and the float32 below it
    for dtype, lim in ((Q.Q8_0, 127.0 * 65520.0), (Q.Q4_0, 8.0 * 65520.0), (Q.NF4, 65520.0), (Q.NF3, 65520.0)):
        for sign in (1.0, -1.0):
            at = torch.tensor([sign * lim], dtype=torch.float32)
            below = torch.nextafter(at, torch.zeros(1))
            expect(refused(dtype, 32, qblock([float(at[0])])), "%s accepted %g" % (Q.NAMES[dtype], lim))
            b = Q.quantize(dtype, 32, qblock([float(below[0])]))
            expect(b[:2] in (b"\xff\x7b", b"\xff\xfb"), "%s below limit: scale %s" % (Q.NAMES[dtype], b[:2].hex()))
    # bad blocks and lengths
    for dtype, block in ((Q.Q8_0, 64), (Q.Q4_0, 16), (Q.NF4, 48), (Q.NF3, 0), (Q.NF4, Q.BLOCK_MAX + 32), (99, 32)):
        try:
            Q.check_block(dtype, block)
            expect(False, "block %d accepted" % block)
        except Q.QuantError:
            pass
    Q.check_block(Q.NF4, Q.BLOCK_MAX)
    try:
        Q.quantize(Q.NF4, 64, qblock([1.0], 96))
        expect(False, "96 values in blocks of 64 accepted")
    except Q.QuantError:
        pass


def check_quant_tiny_scales():
    """Blocks whose 1/d overflows float32 take id = 0 (ggml: undefined):
    Q8_0 q = 0, Q4_0 q = 8; their F16 scale is 0 (or -0)."""
    for amax in (2.0 ** -149, 2.0 ** -146, 1e-40, 2.0 ** -127):
        x = qblock([amax, -amax / 2])
        b8 = Q.quantize(Q.Q8_0, 32, x)
        expect(b8 == bytes(34), "Q8_0 tiny %g: %s" % (amax, b8.hex()))
        b4 = Q.quantize(Q.Q4_0, 32, x)
        expect(b4[:2] == b"\x00\x80", "Q4_0 tiny scale")
        expect(b4[2:] == b"\x88" * 16, "Q4_0 tiny %g: %s" % (amax, b4.hex()))
    # NF: F16(s) = 0 when s <= 2^-25 -> every index is the zero code
    x = qblock([2.0 ** -25, -(2.0 ** -26)])
    expect(Q.quantize(Q.NF4, 32, x) == bytes.fromhex("0000" + "77" * 16), "NF4 s = 2^-25")
    # F16-subnormal scale: z may exceed 1, then the end code
    x = qblock([1.4 * 2.0 ** -24, -1.4 * 2.0 ** -24])
    b = Q.quantize(Q.NF4, 32, x)
    expect(b[:3] == bytes.fromhex("0100 0f"), "NF4 subnormal scale: %s" % b.hex())


def check_quant_error_bounds():
    """|x - deq(q(x))| per block, against each type's bound in units of the
    block's (float32) scale; and the RMS error on N(0, 1) data."""
    g = torch.Generator().manual_seed(79)
    x = torch.randn(768 * 40, generator=g) * torch.exp(torch.randn(768 * 40, generator=g))
    msg = []
    for dtype, block, bound in ((Q.Q8_0, 32, 0.5 + 127 * 2.0 ** -11 + 1e-3), (Q.Q4_0, 32, 1.0 + 8 * 2.0 ** -11 + 1e-3),
                                (Q.NF4, 64, 0.152 + 2.0 ** -10), (Q.NF4, 768, 0.152 + 2.0 ** -10),
                                (Q.NF3, 128, 0.2325 + 2.0 ** -10), (Q.NF3, 768, 0.2325 + 2.0 ** -10)):
        y = Q.dequantize(dtype, block, Q.quantize(dtype, block, x), x.numel())
        X, Y = x.reshape(-1, block).double(), y.reshape(-1, block).double()
        amax = X.abs().amax(dim=1)
        unit = {Q.Q8_0: amax / 127, Q.Q4_0: amax / 8}.get(dtype, amax)
        worst = float(((X - Y).abs().amax(dim=1) / unit).max())
        expect(worst <= bound, "%s-%d: error %.4f scale units > %.4f" % (Q.NAMES[dtype], block, worst, bound))
        rms = float(((X - Y) ** 2).mean().sqrt() / (X ** 2).mean().sqrt())
        msg.append("%s-%d %.4f" % (Q.NAMES[dtype], block, rms))
    return "relative RMS " + ", ".join(msg)


def check_quant_fma_traps():
    """The fma_q8 / fma_q4 fixture sets do catch a fused multiply-add: the
    reference's q equals the separately rounded prediction (numpy, float64
    where x*id is exact) everywhere, and differs from the fused one often."""
    import make_fixtures as MF
    f32 = np.float32
    msg = []
    for kind, dtype in (("q8", Q.Q8_0), ("q4", Q.Q4_0)):
        x = MF.fma_traps(kind)
        raw = np.frombuffer(Q.quantize(dtype, 32, x), dtype=np.uint8).reshape(-1, 2 + (32 if kind == "q8" else 16))
        if kind == "q8":
            got = raw[:, 2:].view(np.int8).astype(int)
        else:
            got = np.concatenate([raw[:, 2:] & 15, raw[:, 2:] >> 4], axis=1).astype(int)
        diff = 0
        for b, blk in enumerate(x.numpy().reshape(-1, 32)):
            a = np.abs(blk)
            if kind == "q8":
                d = f32(a.max()) / f32(127)
            else:
                d = blk[int(np.argmax(a))] / f32(-8)
            idv = f32(1) / d if d != 0 else f32(0)
            for j, v in enumerate(blk):
                p = float(v) * float(idv)
                if kind == "q8":
                    tr = f32(int(f32(p)))
                    fs = float(f32(f32(p) - tr))
                    sep = int(tr) + (fs >= 0.5) - (fs <= -0.5)
                    ff = float(f32(p - float(tr)))
                    fused = int(tr) + (ff >= 0.5) - (ff <= -0.5)
                else:
                    sep = min(15, int(f32(f32(p) + f32(8.5))))
                    fused = min(15, int(f32(p + 8.5)))
                expect(got[b, j] == sep,
                       "%s block %d value %d: %d, separate rounding gives %d" % (kind, b, j, got[b, j], sep))
                diff += sep != fused
        expect(diff >= 100, "%s: only %d values tell a fused multiply-add apart" % (kind, diff))
        msg.append("%s %d" % (kind, diff))
    return "values an FMA would change: " + ", ".join(msg)


def check_quant_sizes():
    want = {(Q.Q8_0, 32): 34, (Q.Q4_0, 32): 18, (Q.NF4, 32): 18, (Q.NF4, 64): 34, (Q.NF4, 768): 386,
            (Q.NF3, 32): 14, (Q.NF3, 128): 50, (Q.NF3, 768): 290}
    for (dtype, block), n in want.items():
        expect(Q.block_bytes(dtype, block) == n, "%s-%d block bytes" % (Q.NAMES[dtype], block))
    expect(Q.row_bytes(Q.Q4_0, 32, 3072) / (2 * 3072) <= 0.30, "Q4_0 over 0.30x F16")
    expect(Q.row_bytes(Q.NF4, 768, 3072) * 2 == 386 * 8, "row bytes")


def check_quant_hostile_scales():
    for dtype, block in ((Q.Q8_0, 32), (Q.Q4_0, 32), (Q.NF4, 64), (Q.NF3, 32)):
        good = bytearray(Q.quantize(dtype, block, qblock([1.0, -0.5], block)) * 2)
        for h in (b"\x00\x7c", b"\x00\xfc", b"\x01\x7c", b"\x00\x7e", b"\xff\xff"):
            bad = bytearray(good)
            bad[Q.block_bytes(dtype, block):Q.block_bytes(dtype, block) + 2] = h
            try:
                Q.dequantize(dtype, block, bytes(bad), 2 * block)
                expect(False, "%s: scale %s accepted" % (Q.NAMES[dtype], h.hex()))
            except Q.QuantCorruptError:
                pass
        # a negative or subnormal finite scale decodes as stored
        bad = bytearray(good)
        bad[0:2] = b"\x01\x80"
        y = Q.dequantize(dtype, block, bytes(bad), 2 * block)
        expect(bool(torch.isfinite(y).all()), "finite")


def check_quant_fixtures(root):
    def run():
        qdir = os.path.join(root, "quant")
        with open(os.path.join(qdir, "index.txt")) as f:
            rows = [line.split() for line in f if line.strip()]
        seen, status = set(), {"ok": 0, "erange": 0}
        for name, block, case, n, st in rows:
            dtype, block, n = Q.CODES[name], int(block), int(n)
            x = torch.from_numpy(np.fromfile(os.path.join(qdir, "in", case + ".f32"), dtype="<f4").copy())
            expect(x.numel() == n, "%s: %d values" % (case, x.numel()))
            status[st] += 1
            seen.add((name, block))
            try:
                data = Q.quantize(dtype, block, x)
            except Q.QuantRangeError:
                expect(st == "erange", "%s-%d %s: refused, index says %s" % (name, block, case, st))
                continue
            expect(st == "ok", "%s-%d %s: accepted, index says %s" % (name, block, case, st))
            sub = os.path.join(qdir, "%s-%d" % (name, block))
            with open(os.path.join(sub, case + ".q"), "rb") as f:
                expect(f.read() == data, "%s-%d %s: bytes differ" % (name, block, case))
            y = np.fromfile(os.path.join(sub, case + ".f32"), dtype="<f4")
            expect(np.array_equal(y.view(np.uint32), Q.dequantize(dtype, block, data, n).numpy().view(np.uint32)),
                   "%s-%d %s: dequantized values differ" % (name, block, case))
        expect(len(seen) == 10 and status["ok"] >= 150 and status["erange"] >= 40, "coverage %s %s" % (seen, status))
        return "%d vectors (%d ok, %d refused)" % (len(rows), status["ok"], status["erange"])
    return run


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
            # The claim of README.md ("Rep conversion"): the F16 table is table.f32 cast by torch, bit for bit.
            expect(torch.equal(rw[cfg.table_name], torch.from_numpy(table.copy()).half()),
                   "rep_ckpt table is not the F16 cast of table.f32")
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
    check("quant: NF code values (derivation)", check_quant_nf_codes)
    check("quant: NF nearest-code thresholds", check_quant_nf_split)
    check("quant: float32 steps are IEEE", check_quant_float32_ops)
    check("quant: hand-computed blocks", check_quant_hand_blocks)
    check("quant: zero blocks", check_quant_zero_blocks)
    check("quant: refused inputs and blocks", check_quant_refusals)
    check("quant: tiny scales", check_quant_tiny_scales)
    check("quant: round-trip error bounds", check_quant_error_bounds)
    check("quant: FMA traps", check_quant_fma_traps)
    check("quant: sizes", check_quant_sizes)
    check("quant: hostile scales", check_quant_hostile_scales)
    if len(argv) > 1:
        root = argv[1]
        cases = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and d != "quant")
        if not cases:
            check("fixtures present", lambda: expect(False, "no cases in %s" % root))
        for c in cases:
            check("fixture " + c, check_fixture_case(os.path.join(root, c)))
        check("fixture quant", check_quant_fixtures(root))
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
