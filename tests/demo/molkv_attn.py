#!/usr/bin/python3
"""molkv_attn.py [CKPT] - where a MoLKV model's expert attention goes.

For each layer: the mean share of the expert-attention mass (summed over the
N experts, mean over the H heads) that a position t puts on its own token
(s = t), over 16 windows of 128 held-out ids, positions 16..127, against the
share a uniform attention over the t+1 visible positions would give.  MoLE
always mixes the current token's experts; MoLKV mixes every visible token's,
so this says how token-specific MoLKV's expert term has become.
"""
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train as T  # noqa: E402

torch.set_num_threads(1)
cfg, w = T.ref.load_checkpoint(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "models", "molkv"))
w = {k: v.float() for k, v in w.items()}
ids = T.read_ids(os.path.join(HERE, "heldout.ids"))[:128 * 16].view(16, 128)
rows = []
orig = T.molkv_mix_b


def mix(cfg, w, l, x, keys, vals):
    B, Tn, N, H = x.shape[0], x.shape[1], cfg.N, cfg.H
    ck = cfg.dk // H
    q = (x @ w[T._lp(l) + "expert_query.weight"].t()).view(B, Tn, H, ck)
    s = torch.einsum("bthc,bsnhc->bthsn", q, keys.reshape(B, Tn, N, H, ck)) / math.sqrt(ck)
    allowed = torch.arange(Tn).view(1, Tn) <= torch.arange(Tn).view(Tn, 1)
    s = s.masked_fill(~allowed.view(1, Tn, 1, Tn, 1), float("-inf"))
    p = torch.softmax(s.reshape(B, Tn, H, Tn * N), -1).view(B, Tn, H, Tn, N)
    own = torch.diagonal(p.sum(-1), dim1=1, dim2=3)  # [B, H, T]: mass on s == t
    rows.append((l, float(own[:, :, 16:].mean()), float((1 / (torch.arange(16, Tn) + 1.0)).mean())))
    return orig(cfg, w, l, x, keys, vals)


T.molkv_mix_b = mix
with torch.no_grad():
    T.forward_b(cfg, w, ids, False)
for l, m, u in rows:
    print("layer %d: expert attention on the current token %.3f (uniform over the visible tokens: %.3f)" % (l, m, u))
