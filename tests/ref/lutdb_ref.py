"""lutdb_ref: independent pure-PyTorch reference for MoLE / MoLKV models.

This is the reference the C runtime is checked against.  It follows the
project's MoLE definition (JieShibo/MoLE modeling_mole.py / reparameterize.py)
and its MoLKV variant:

  per layer:  h += Attn(RMSNorm_in(h));  x = RMSNorm_post(h)
              m = down(GELU_erf(up(x)))
              MoLE:  E = sum_n softmax(router x)_n * slot[id_t][l][n]
              MoLKV: E = per-head softmax over (s<=t within window W, n) of
                     (Wq x)_h . key[id_s][l][n]_h / sqrt(dk/H), times value
              h = (h + m) + E
  slot[i][l][n] = expert_n(RMSNorm_expert_ln(embed[i])) (value), and for
  MoLKV also key = (expert_keys RMSNorm_expert_ln(embed[i]))[n*dk:(n+1)*dk].

Everything is computed in float32 from weights upcast from their stored
dtype; nothing here is optimised.  Fixture layout: tests/ref/README.md.

Run with /usr/bin/python3 (Debian python with torch + numpy).

Public API
    Config.from_dict / load_config      config.json parsing, LlamaConfig defaults
    config_dict(...)                    build a config.json dict for a fixture
    init_training(cfg, seed)            random training-form weights (float32)
    cast_weights(w, dtype)              round every tensor to F32/F16/BF16
    build_table(cfg, w)                 float32 rep table from training weights
    reparameterize(cfg, w, dtype)       training form -> rep form (default F16)
    forward(cfg, w, ids)                logits [T, V] float32 (either form)
    greedy(cfg, w, ids, n)              n greedy ids (argmax, ties -> lowest id)
    eval_loss(cfg, w, ids)              (mean NLL, n predicted) with windowing
    save_safetensors / load_safetensors hand-written safetensors codec
    save_checkpoint / load_checkpoint   directory with config + (sharded) weights
"""

import json
import math
import os
import struct

import numpy as np
import torch

# ---------------------------------------------------------------------------
# dtypes

ST_DTYPES = {  # safetensors name -> (torch dtype, element size)
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
}
TORCH_TO_ST = {v[0]: k for k, v in ST_DTYPES.items()}
HF_DTYPE_NAME = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


class RefError(Exception):
    pass


# ---------------------------------------------------------------------------
# config

LLAMA_DEFAULTS = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": None,  # None -> num_attention_heads
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "rope_scaling": None,
}


class Config:
    """Parsed model config (attribute names are the short names of the spec)."""

    def __init__(self, c):
        def get(k):
            v = c.get(k)
            return LLAMA_DEFAULTS[k] if v is None else v

        arch = c.get("architectures") or []
        if c.get("model_type") == "molkv" or "MolkvForCausalLM" in arch:
            self.family = "molkv"
        elif "MoleForCausalLM" in arch or c.get("model_type") == "llama":
            self.family = "mole"
        else:
            raise RefError("config: neither MoLE nor MoLKV (architectures=%r)" % (arch,))
        if c.get("rope_scaling") is not None:
            raise RefError("config: rope_scaling is not supported")
        self.V = int(get("vocab_size"))
        self.d = int(get("hidden_size"))
        self.I = int(get("intermediate_size"))
        self.L = int(get("num_hidden_layers"))
        self.heads = int(get("num_attention_heads"))
        kvh = c.get("num_key_value_heads")
        self.kv_heads = self.heads if kvh is None else int(kvh)
        self.eps = float(get("rms_norm_eps"))
        self.theta = float(get("rope_theta"))
        self.max_pos = int(get("max_position_embeddings"))
        self.tied = bool(get("tie_word_embeddings"))
        self.bos = c.get("bos_token_id", 1)
        self.eos = c.get("eos_token_id", 2)
        if "num_experts" not in c:
            raise RefError("config: num_experts missing")
        self.N = int(c["num_experts"])
        if self.family == "molkv":
            for k in ("kv_expert_dim", "kv_expert_heads"):
                if k not in c:
                    raise RefError("config: %s missing" % k)
            self.dk = int(c["kv_expert_dim"])
            self.H = int(c["kv_expert_heads"])
            self.W = int(c.get("kv_expert_window", 0) or 0)
        else:
            self.dk, self.H, self.W = 0, 0, 0
        if self.d % self.heads or self.heads % self.kv_heads:
            raise RefError("config: bad head counts")
        self.hd = self.d // self.heads
        if self.hd % 2:
            raise RefError("config: odd head dim")
        if self.family == "molkv" and (self.dk % self.H or self.d % self.H):
            raise RefError("config: kv_expert_heads must divide kv_expert_dim and hidden_size")
        # width of one expert's slot in the table
        self.rowlen = self.d if self.family == "mole" else self.dk + self.d

    @classmethod
    def from_dict(cls, c):
        return cls(c)

    @property
    def table_name(self):
        return "model.moe_table.weight" if self.family == "mole" else "model.kv_table.weight"

    @property
    def table_cols(self):
        return self.L * self.N * self.rowlen


def load_config(path):
    with open(path) as f:
        return Config(json.load(f))


def config_dict(family, V, d, I, L, heads, N, dtype, kv_heads=None, dk=None, H=None,
                W=None, tied=None, eps=1e-5, theta=None, max_pos=32, bos=1, eos=2):
    """A config.json dict.  Optional keys left None are omitted so that the
    LlamaConfig defaults are exercised (kv_heads, theta, tied)."""
    c = {
        "architectures": ["MoleForCausalLM" if family == "mole" else "MolkvForCausalLM"],
        "model_type": "llama" if family == "mole" else "molkv",
        "vocab_size": V,
        "hidden_size": d,
        "intermediate_size": I,
        "num_hidden_layers": L,
        "num_attention_heads": heads,
        "hidden_act": "gelu",
        "rms_norm_eps": eps,
        "max_position_embeddings": max_pos,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "num_experts": N,
        "rope_scaling": None,
        "torch_dtype": HF_DTYPE_NAME[dtype],
    }
    if kv_heads is not None:
        c["num_key_value_heads"] = kv_heads
    if theta is not None:
        c["rope_theta"] = theta
    if tied is not None:
        c["tie_word_embeddings"] = tied
    if family == "molkv":
        c["kv_expert_dim"] = dk
        c["kv_expert_heads"] = H
        if W is not None:
            c["kv_expert_window"] = W
    return c


# ---------------------------------------------------------------------------
# weights

def _lp(l):
    return "model.layers.%d." % l


def init_training(cfg, seed):
    """Random training-form weights, float32, deterministic for a seed."""
    g = torch.Generator().manual_seed(seed)

    def randn(shape, std):
        return torch.randn(shape, generator=g, dtype=torch.float32) * std

    def norm(n):  # around 1 with visible noise
        return 1.0 + randn([n], 0.2)

    d, I, V, N = cfg.d, cfg.I, cfg.V, cfg.N
    kvd = cfg.kv_heads * cfg.hd
    w = {"model.embed_tokens.weight": randn([V, d], 0.1), "model.norm.weight": norm(d)}
    for l in range(cfg.L):
        p = _lp(l)
        w[p + "self_attn.q_proj.weight"] = randn([cfg.heads * cfg.hd, d], 0.08)
        w[p + "self_attn.k_proj.weight"] = randn([kvd, d], 0.08)
        w[p + "self_attn.v_proj.weight"] = randn([kvd, d], 0.05)
        w[p + "self_attn.o_proj.weight"] = randn([d, cfg.heads * cfg.hd], 0.05)
        w[p + "mlp.up_proj.weight"] = randn([I, d], 0.05)
        w[p + "mlp.down_proj.weight"] = randn([d, I], 0.05)
        w[p + "input_layernorm.weight"] = norm(d)
        w[p + "post_attention_layernorm.weight"] = norm(d)
        w[p + "expert_layernorm.weight"] = norm(d)
        if cfg.family == "mole":
            w[p + "router.weight"] = randn([N, d], 0.1)
        else:
            w[p + "expert_keys.weight"] = randn([N * cfg.dk, d], 0.1)
            w[p + "expert_query.weight"] = randn([cfg.dk, d], 0.1)
        for n in range(N):
            w[p + "experts.%d.up_proj.weight" % n] = randn([I, d], 0.08)
            w[p + "experts.%d.down_proj.weight" % n] = randn([d, I], 0.08)
    if not cfg.tied:
        w["lm_head.weight"] = randn([V, d], 0.1)
    return w


def cast_weights(w, dtype):
    """Round every tensor to a stored dtype ('F32', 'F16', 'BF16')."""
    td = ST_DTYPES[dtype][0]
    return {k: v.to(td).contiguous() for k, v in w.items()}


def upcast(w):
    return {k: v.to(torch.float32) for k, v in w.items()}


def is_rep(w):
    return "model.moe_table.weight" in w or "model.kv_table.weight" in w


def check_names(cfg, w):
    """Raise unless w has exactly the tensor names of one form, right shapes."""
    d, I, V, N = cfg.d, cfg.I, cfg.V, cfg.N
    kvd = cfg.kv_heads * cfg.hd
    rep = is_rep(w)
    want = {"model.embed_tokens.weight": [V, d], "model.norm.weight": [d]}
    if not cfg.tied:
        want["lm_head.weight"] = [V, d]
    if rep:
        want[cfg.table_name] = [V, cfg.table_cols]
    for l in range(cfg.L):
        p = _lp(l)
        want[p + "self_attn.q_proj.weight"] = [cfg.heads * cfg.hd, d]
        want[p + "self_attn.k_proj.weight"] = [kvd, d]
        want[p + "self_attn.v_proj.weight"] = [kvd, d]
        want[p + "self_attn.o_proj.weight"] = [d, cfg.heads * cfg.hd]
        want[p + "mlp.up_proj.weight"] = [I, d]
        want[p + "mlp.down_proj.weight"] = [d, I]
        want[p + "input_layernorm.weight"] = [d]
        want[p + "post_attention_layernorm.weight"] = [d]
        if cfg.family == "mole":
            want[p + "router.weight"] = [N, d]
        else:
            want[p + "expert_query.weight"] = [cfg.dk, d]
        if not rep:
            want[p + "expert_layernorm.weight"] = [d]
            if cfg.family == "molkv":
                want[p + "expert_keys.weight"] = [N * cfg.dk, d]
            for n in range(N):
                want[p + "experts.%d.up_proj.weight" % n] = [I, d]
                want[p + "experts.%d.down_proj.weight" % n] = [d, I]
    have = {k: list(v.shape) for k, v in w.items()}
    if have != want:
        missing = sorted(set(want) - set(have))
        extra = sorted(set(have) - set(want))
        bad = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        raise RefError("weights: missing %s extra %s bad shape %s" % (missing[:4], extra[:4], bad[:4]))


# ---------------------------------------------------------------------------
# building blocks (float32)

def rms_norm(x, weight, eps):
    x = x.to(torch.float32)
    return weight.to(torch.float32) * (x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def gelu(x):  # exact erf GELU
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def ffn(x, up, down):
    return gelu(x @ up.t()) @ down.t()


def rope_cos_sin(cfg, T):
    hd = cfg.hd
    inv_freq = 1.0 / (cfg.theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    pos = torch.arange(T, dtype=torch.float32)
    ang = torch.outer(pos, inv_freq)
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def attention(cfg, w, l, x, cos, sin):
    p = _lp(l) + "self_attn."
    T = x.shape[0]
    q = (x @ w[p + "q_proj.weight"].t()).view(T, cfg.heads, cfg.hd).transpose(0, 1)
    k = (x @ w[p + "k_proj.weight"].t()).view(T, cfg.kv_heads, cfg.hd).transpose(0, 1)
    v = (x @ w[p + "v_proj.weight"].t()).view(T, cfg.kv_heads, cfg.hd).transpose(0, 1)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    group = cfg.heads // cfg.kv_heads  # query head j uses kv head j // group
    k = k.repeat_interleave(group, dim=0)
    v = v.repeat_interleave(group, dim=0)
    s = (q @ k.transpose(1, 2)) / math.sqrt(cfg.hd)
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    s = s.masked_fill(causal, float("-inf"))
    a = torch.softmax(s, dim=-1) @ v  # [heads, T, hd]
    return a.transpose(0, 1).reshape(T, cfg.heads * cfg.hd) @ w[p + "o_proj.weight"].t()


# ---------------------------------------------------------------------------
# expert table

def expert_slots(cfg, w, l, e):
    """Training form: expert outputs for embeddings e [T, d] at layer l.
    MoLE: values [T, N, d].  MoLKV: (keys [T, N, dk], values [T, N, d])."""
    p = _lp(l)
    u = rms_norm(e, w[p + "expert_layernorm.weight"], cfg.eps)
    vals = torch.stack([ffn(u, w[p + "experts.%d.up_proj.weight" % n],
                            w[p + "experts.%d.down_proj.weight" % n]) for n in range(cfg.N)], dim=1)
    if cfg.family == "mole":
        return vals
    keys = (u @ w[p + "expert_keys.weight"].t()).view(-1, cfg.N, cfg.dk)
    return keys, vals


def build_table(cfg, w):
    """Rep table [V, L*N*rowlen] float32 from training-form weights."""
    w = upcast(w)
    e = w["model.embed_tokens.weight"]
    parts = []
    for l in range(cfg.L):
        if cfg.family == "mole":
            parts.append(expert_slots(cfg, w, l, e).reshape(cfg.V, cfg.N * cfg.d))
        else:
            keys, vals = expert_slots(cfg, w, l, e)
            parts.append(keys.reshape(cfg.V, cfg.N * cfg.dk))
            parts.append(vals.reshape(cfg.V, cfg.N * cfg.d))
    return torch.cat(parts, dim=1).contiguous()


def table_slots(cfg, table, l, ids):
    """Rep form: the same as expert_slots, read from table rows of ids."""
    rows = table[ids].to(torch.float32)  # [T, L*N*rowlen]
    blk = rows[:, l * cfg.N * cfg.rowlen:(l + 1) * cfg.N * cfg.rowlen]
    if cfg.family == "mole":
        return blk.reshape(-1, cfg.N, cfg.d)
    nk = cfg.N * cfg.dk
    return blk[:, :nk].reshape(-1, cfg.N, cfg.dk), blk[:, nk:].reshape(-1, cfg.N, cfg.d)


def reparameterize(cfg, w, dtype="F16"):
    """Training form -> rep form.  Table in float32 from the stored weights
    (upcast exactly), then the whole model cast to dtype (official: F16)."""
    if is_rep(w):
        raise RefError("reparameterize: already in rep form")
    table = build_table(cfg, w)
    rep = {}
    for k, v in w.items():
        if ".experts." in k or "expert_layernorm" in k or "expert_keys" in k:
            continue
        rep[k] = v.to(torch.float32)
    rep[cfg.table_name] = table
    return cast_weights(rep, dtype)


# ---------------------------------------------------------------------------
# forward

def mole_mix(cfg, w, l, x, slots):
    g = torch.softmax(x @ w[_lp(l) + "router.weight"].t(), dim=-1)  # [T, N], dense
    return (g.unsqueeze(-1) * slots).sum(dim=1)


def molkv_mix(cfg, w, l, x, keys, vals):
    T, N, H = x.shape[0], cfg.N, cfg.H
    ck, cv = cfg.dk // H, cfg.d // H
    q = (x @ w[_lp(l) + "expert_query.weight"].t()).view(T, H, ck)
    kh = keys.reshape(T, N, H, ck)
    vh = vals.reshape(T, N, H, cv)
    s = torch.einsum("thc,snhc->thsn", q, kh) / math.sqrt(ck)  # [t, h, s, n]
    t_idx = torch.arange(T).view(T, 1)
    s_idx = torch.arange(T).view(1, T)
    allowed = s_idx <= t_idx
    if cfg.W > 0:
        allowed = allowed & (s_idx > t_idx - cfg.W)
    s = s.masked_fill(~allowed.view(T, 1, T, 1), float("-inf"))
    p = torch.softmax(s.reshape(T, H, T * N), dim=-1).view(T, H, T, N)
    return torch.einsum("thsn,snhc->thc", p, vh).reshape(T, cfg.d)


def forward(cfg, w, ids, use_table=None):
    """Logits [T, V] float32 for token ids (positions 0..T-1).
    Training-form weights compute the experts directly unless use_table is a
    precomputed float32 table; rep-form weights use their stored table."""
    w = upcast(w)
    ids = torch.as_tensor(list(ids), dtype=torch.long)
    if ids.numel() == 0:
        raise RefError("forward: empty sequence")
    if int(ids.min()) < 0 or int(ids.max()) >= cfg.V:
        raise RefError("forward: id out of range")
    T = ids.numel()
    table = w.get(cfg.table_name) if use_table is None else use_table
    e = w["model.embed_tokens.weight"][ids]
    h = e
    cos, sin = rope_cos_sin(cfg, T)
    for l in range(cfg.L):
        p = _lp(l)
        h = h + attention(cfg, w, l, rms_norm(h, w[p + "input_layernorm.weight"], cfg.eps), cos, sin)
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], cfg.eps)
        m = ffn(x, w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"])
        slots = table_slots(cfg, table, l, ids) if table is not None else expert_slots(cfg, w, l, e)
        if cfg.family == "mole":
            E = mole_mix(cfg, w, l, x, slots)
        else:
            E = molkv_mix(cfg, w, l, x, *slots)
        h = (h + m) + E
    head = w["model.embed_tokens.weight"] if cfg.tied else w["lm_head.weight"]
    return (rms_norm(h, w["model.norm.weight"], cfg.eps) @ head.t()).contiguous()


def argmax_lowest(row):
    """Index of the maximum; ties go to the lowest id."""
    m = row.max()
    return int(torch.nonzero(row == m)[0, 0])


def top2_margin(row):
    v = torch.topk(row, 2).values
    return float(v[0] - v[1])


def greedy(cfg, w, ids, n, with_margin=False):
    """n greedy tokens after ids (full recompute each step, no EOS stop)."""
    seq = list(ids)
    out, margin = [], float("inf")
    for _ in range(n):
        row = forward(cfg, w, seq)[-1]
        tok = argmax_lowest(row)
        margin = min(margin, top2_margin(row))
        out.append(tok)
        seq.append(tok)
    return (out, margin) if with_margin else out


def nll_sum(logits, ids):
    """Sum over t < T-1 of -log softmax(logits_t)[ids_{t+1}] (float64 sum)."""
    if len(ids) < 2:
        return 0.0, 0
    lp = torch.log_softmax(logits[:-1], dim=-1)
    tgt = torch.as_tensor(list(ids[1:]), dtype=torch.long)
    nll = -lp.gather(1, tgt.view(-1, 1)).view(-1)
    return float(nll.to(torch.float64).sum()), len(ids) - 1


def eval_loss(cfg, w, ids):
    """Mean NLL over consecutive non-overlapping windows of max_pos tokens,
    each scored independently (positions restart at 0).  A window of n
    tokens predicts n-1 of them.  Returns (loss, predicted token count)."""
    ids = list(ids)
    total, count = 0.0, 0
    for start in range(0, len(ids), cfg.max_pos):
        win = ids[start:start + cfg.max_pos]
        if len(win) < 2:
            continue
        s, c = nll_sum(forward(cfg, w, win), win)
        total += s
        count += c
    if count == 0:
        raise RefError("eval: nothing to predict")
    return total / count, count


# ---------------------------------------------------------------------------
# safetensors

def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.float32:
        return t.numpy().astype("<f4").tobytes()
    if t.dtype == torch.float16:
        return t.numpy().astype("<f2").tobytes()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    raise RefError("safetensors: unsupported dtype %s" % t.dtype)


def save_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": TORCH_TO_ST[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    return off


def load_safetensors(path):
    """Read a safetensors file -> {name: torch tensor in its stored dtype}."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise RefError("%s: truncated" % path)
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        raise RefError("%s: header length %d past end" % (path, n))
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in ST_DTYPES:
            raise RefError("%s: %s: dtype %s unsupported" % (path, name, dt))
        td, size = ST_DTYPES[dt]
        shape = list(info["shape"])
        b, e = info["data_offsets"]
        if not (0 <= b <= e <= len(data)) or e - b != size * int(np.prod(shape, dtype=np.int64)):
            raise RefError("%s: %s: bad data_offsets" % (path, name))
        raw = data[b:e]
        if dt == "F32":
            arr = torch.from_numpy(np.frombuffer(raw, dtype="<f4").astype(np.float32))
        elif dt == "F16":
            arr = torch.from_numpy(np.frombuffer(raw, dtype="<f2").astype(np.float16))
        else:
            arr = torch.from_numpy(np.frombuffer(raw, dtype="<i2").astype(np.int16)).view(torch.bfloat16)
        out[name] = arr.reshape(shape).clone()
    return out


def shard_names(names_sizes, k):
    """Split sorted (name, nbytes) into k contiguous non-empty groups of
    roughly equal byte size."""
    total = sum(s for _, s in names_sizes)
    if len(names_sizes) < k:
        raise RefError("cannot split %d tensors into %d shards" % (len(names_sizes), k))
    groups = [[] for _ in range(k)]
    acc, g = 0, 0
    for i, (name, s) in enumerate(names_sizes):
        want = min(k - 1, int(k * (acc + s / 2) / total))
        # advance when the midpoint passes a boundary, but never leave an
        # earlier group empty or too few items for the groups still to fill
        if want > g and groups[g]:
            g += 1
        if groups[g] and len(names_sizes) - i <= k - 1 - g:
            g += 1
        groups[g].append(name)
        acc += s
    if any(not grp for grp in groups):
        raise RefError("cannot split %d tensors into %d shards" % (len(names_sizes), k))
    return groups


def save_checkpoint(dirpath, config, tensors, shards=1, generation_config=None, config_text=None):
    """Write config.json (+ generation_config.json) and the weights, either as
    model.safetensors or as model-0000i-of-0000K.safetensors + index."""
    os.makedirs(dirpath, exist_ok=True)
    with open(os.path.join(dirpath, "config.json"), "w") as f:
        f.write(config_text if config_text is not None else json.dumps(config, indent=2) + "\n")
    if generation_config is not None:
        with open(os.path.join(dirpath, "generation_config.json"), "w") as f:
            f.write(json.dumps(generation_config, indent=2) + "\n")
    if shards <= 1:
        save_safetensors(os.path.join(dirpath, "model.safetensors"), tensors)
        return
    names = sorted(tensors)
    sizes = [(n, len(tensor_bytes(tensors[n]))) for n in names]
    weight_map, total = {}, 0
    for i, group in enumerate(shard_names(sizes, shards)):
        fname = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        total += save_safetensors(os.path.join(dirpath, fname), {n: tensors[n] for n in group})
        for n in group:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(dirpath, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2) + "\n")


def load_checkpoint(dirpath):
    """-> (Config, {name: tensor in stored dtype}).  Validates tensor names."""
    cfg = load_config(os.path.join(dirpath, "config.json"))
    idx = os.path.join(dirpath, "model.safetensors.index.json")
    w = {}
    if os.path.exists(idx):
        with open(idx) as f:
            wm = json.load(f)["weight_map"]
        for fname in sorted(set(wm.values())):
            part = load_safetensors(os.path.join(dirpath, fname))
            for k, v in part.items():
                if wm.get(k) != fname or k in w:
                    raise RefError("%s: %s not mapped to this shard" % (fname, k))
                w[k] = v
        if set(w) != set(wm):
            raise RefError("index: weight_map and shards disagree")
    else:
        w = load_safetensors(os.path.join(dirpath, "model.safetensors"))
    check_names(cfg, w)
    return cfg, w
