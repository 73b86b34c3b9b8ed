#!/usr/bin/python3
"""train.py --family mole|molkv|dense [options] - trains a demo model on CPU.

The model is the project's reference definition (tests/ref/lutdb_ref.py) in
training form: the weights are a dict of nn.Parameters under the checkpoint's
own tensor names, and the forward below is the reference forward with a batch
dimension.  It calls the reference's own building blocks (rms_norm,
rope_cos_sin, rotate_half); attention, the two expert mixes, the FFN and the
expert slots are re-written (batched, and with torch's fused exact GELU), with
the same operations.  Before training (and
again on the saved checkpoint) the batched forward is checked against
lutdb_ref.forward on single sequences, and the written checkpoint is
re-loaded with lutdb_ref.load_checkpoint and scored with lutdb_ref.eval_loss.

Experts see only the token embedding, so in a batch they are computed once
per distinct token id and gathered (same values and gradients as computing
them at every position).

  mole   MoLE: N expert FFNs on RMSNorm(embed), mixed by softmax(router x).
  molkv  MoLKV: N value experts + key projections on RMSNorm(embed), a
         per-head query from x attends over the (position, expert) pairs.
  dense  The same backbone (embedding, attention, MLP, norms, head) without
         the expert branch.  Since lutdb stores MoLE/MoLKV checkpoints only,
         it is written as a training-form MoLE with N = 1 whose expert
         weights and router are all zero: softmax over one expert is 1, the
         expert's output is down(gelu(up u)) = 0, so the expert term is
         exactly zero and the model is exactly the dense one (README.md).

Data: DATA/train.ids and DATA/heldout.ids (prepare_data.sh).  Training draws
random windows of --ctx + 1 ids from the training stream (seeded).  The
learning rate warms up linearly then follows a cosine to 10%.  The log goes to
--log (loss every --log-every steps, held-out loss at the end, wall time).
"""

import argparse
import json
import math
import os
import shutil
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "ref"))
import lutdb_ref as ref  # noqa: E402

_lp = ref._lp


# ---------------------------------------------------------------------------
# model

def make_config(a, V, bos, eos):
    fam = "molkv" if a.family == "molkv" else "mole"
    N = 1 if a.family == "dense" else a.experts
    c = ref.config_dict(fam, V, a.d, a.inter, a.layers, a.heads, N, a.dtype.upper(),
                        kv_heads=a.heads, dk=a.dk if fam == "molkv" else None,
                        H=a.kvh if fam == "molkv" else None,
                        W=a.window if fam == "molkv" else None, tied=True, eps=1e-5,
                        theta=10000.0, max_pos=a.ctx, bos=bos, eos=eos)
    return c


def init_params(cfg, dense, seed):
    """Training-form parameters (float32), GPT-2 style init: N(0, 0.02),
    residual output projections scaled by 1/sqrt(2L), norms at 1."""
    g = torch.Generator().manual_seed(seed)
    std, ostd = 0.02, 0.02 / math.sqrt(2 * cfg.L)

    def rn(shape, s):
        return torch.randn(shape, generator=g) * s

    d, I, V, N = cfg.d, cfg.I, cfg.V, cfg.N
    kvd = cfg.kv_heads * cfg.hd
    w = {"model.embed_tokens.weight": rn([V, d], std), "model.norm.weight": torch.ones(d)}
    for l in range(cfg.L):
        p = _lp(l)
        w[p + "self_attn.q_proj.weight"] = rn([cfg.heads * cfg.hd, d], std)
        w[p + "self_attn.k_proj.weight"] = rn([kvd, d], std)
        w[p + "self_attn.v_proj.weight"] = rn([kvd, d], std)
        w[p + "self_attn.o_proj.weight"] = rn([d, cfg.heads * cfg.hd], ostd)
        w[p + "mlp.up_proj.weight"] = rn([I, d], std)
        w[p + "mlp.down_proj.weight"] = rn([d, I], ostd)
        w[p + "input_layernorm.weight"] = torch.ones(d)
        w[p + "post_attention_layernorm.weight"] = torch.ones(d)
        if dense:
            continue
        w[p + "expert_layernorm.weight"] = torch.ones(d)
        if cfg.family == "mole":
            w[p + "router.weight"] = rn([N, d], std)
        else:
            w[p + "expert_keys.weight"] = rn([N * cfg.dk, d], std)
            w[p + "expert_query.weight"] = rn([cfg.dk, d], std)
        for n in range(N):
            w[p + "experts.%d.up_proj.weight" % n] = rn([I, d], std)
            w[p + "experts.%d.down_proj.weight" % n] = rn([d, I], ostd)
    return {k: torch.nn.Parameter(v) for k, v in w.items()}


def dense_to_checkpoint(cfg, w):
    """Dense weights -> MoLE training form, N = 1, zero experts and router."""
    out = {k: v.detach().clone() for k, v in w.items()}
    for l in range(cfg.L):
        p = _lp(l)
        out[p + "expert_layernorm.weight"] = torch.ones(cfg.d)
        out[p + "router.weight"] = torch.zeros(1, cfg.d)
        out[p + "experts.0.up_proj.weight"] = torch.zeros(cfg.I, cfg.d)
        out[p + "experts.0.down_proj.weight"] = torch.zeros(cfg.d, cfg.I)
    return out


def ffn(x, up, down):
    """lutdb_ref.ffn: down(GELU_erf(up x)), with torch's fused exact-erf GELU
    (approximate="none", the same function as lutdb_ref.gelu to ~5e-7 in
    float32) - the reference's formula is about 6x slower forward+backward
    on this CPU, a sixth of a MoLE training step."""
    return torch.nn.functional.gelu(x @ up.t()) @ down.t()


def expert_slots(cfg, w, l, e):
    """lutdb_ref.expert_slots with the ffn above."""
    p = _lp(l)
    u = ref.rms_norm(e, w[p + "expert_layernorm.weight"], cfg.eps)
    vals = torch.stack([ffn(u, w[p + "experts.%d.up_proj.weight" % n],
                            w[p + "experts.%d.down_proj.weight" % n]) for n in range(cfg.N)], dim=1)
    if cfg.family == "mole":
        return vals
    keys = (u @ w[p + "expert_keys.weight"].t()).view(-1, cfg.N, cfg.dk)
    return keys, vals


def attention_b(cfg, w, l, x, cos, sin, causal):
    """lutdb_ref.attention with a leading batch dimension."""
    p = _lp(l) + "self_attn."
    B, T = x.shape[0], x.shape[1]
    q = (x @ w[p + "q_proj.weight"].t()).view(B, T, cfg.heads, cfg.hd).transpose(1, 2)
    k = (x @ w[p + "k_proj.weight"].t()).view(B, T, cfg.kv_heads, cfg.hd).transpose(1, 2)
    v = (x @ w[p + "v_proj.weight"].t()).view(B, T, cfg.kv_heads, cfg.hd).transpose(1, 2)
    q = q * cos + ref.rotate_half(q) * sin
    k = k * cos + ref.rotate_half(k) * sin
    group = cfg.heads // cfg.kv_heads
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    s = (q @ k.transpose(2, 3)) / math.sqrt(cfg.hd)
    s = s.masked_fill(causal, float("-inf"))
    a = torch.softmax(s, dim=-1) @ v  # [B, heads, T, hd]
    return a.transpose(1, 2).reshape(B, T, cfg.heads * cfg.hd) @ w[p + "o_proj.weight"].t()


def mole_mix_b(cfg, w, l, x, slots):
    g = torch.softmax(x @ w[_lp(l) + "router.weight"].t(), dim=-1)  # [B, T, N]
    return (g.unsqueeze(-1) * slots).sum(dim=2)


def molkv_mix_b(cfg, w, l, x, keys, vals):
    B, T, N, H = x.shape[0], x.shape[1], cfg.N, cfg.H
    ck, cv = cfg.dk // H, cfg.d // H
    q = (x @ w[_lp(l) + "expert_query.weight"].t()).view(B, T, H, ck)
    kh = keys.reshape(B, T, N, H, ck)
    vh = vals.reshape(B, T, N, H, cv)
    s = torch.einsum("bthc,bsnhc->bthsn", q, kh) / math.sqrt(ck)
    t_idx = torch.arange(T).view(T, 1)
    s_idx = torch.arange(T).view(1, T)
    allowed = s_idx <= t_idx
    if cfg.W > 0:
        allowed = allowed & (s_idx > t_idx - cfg.W)
    s = s.masked_fill(~allowed.view(1, T, 1, T, 1), float("-inf"))
    pr = torch.softmax(s.reshape(B, T, H, T * N), dim=-1).view(B, T, H, T, N)
    return torch.einsum("bthsn,bsnhc->bthc", pr, vh).reshape(B, T, cfg.d)


def forward_b(cfg, w, ids, dense):
    """Logits [B, T, V] for ids [B, T]: lutdb_ref.forward, batched."""
    B, T = ids.shape
    emb = w["model.embed_tokens.weight"]
    h = emb[ids]
    cos, sin = ref.rope_cos_sin(cfg, T)
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    if not dense:
        uniq, inv = torch.unique(ids, return_inverse=True)
        e_u = emb[uniq]
    for l in range(cfg.L):
        p = _lp(l)
        h = h + attention_b(cfg, w, l, ref.rms_norm(h, w[p + "input_layernorm.weight"], cfg.eps),
                            cos, sin, causal)
        x = ref.rms_norm(h, w[p + "post_attention_layernorm.weight"], cfg.eps)
        m = ffn(x, w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"])
        if dense:
            h = h + m
            continue
        if cfg.family == "mole":
            E = mole_mix_b(cfg, w, l, x, expert_slots(cfg, w, l, e_u)[inv])
        else:
            keys, vals = expert_slots(cfg, w, l, e_u)
            E = molkv_mix_b(cfg, w, l, x, keys[inv], vals[inv])
        h = (h + m) + E
    head = emb if cfg.tied else w["lm_head.weight"]
    return ref.rms_norm(h, w["model.norm.weight"], cfg.eps) @ head.t()


# ---------------------------------------------------------------------------
# data and eval

def read_ids(path):
    with open(path) as f:
        return torch.tensor([int(x) for x in f.read().replace("\n", "").split(",") if x], dtype=torch.long)


def heldout_loss(cfg, w, ids, dense, batch=16):
    """lutdb_ref.eval_loss windowing (windows of max_pos, positions restart,
    a window of n predicts n-1, float64 sum), batched over full windows."""
    total, count = 0.0, 0
    M = cfg.max_pos
    nfull = len(ids) // M
    with torch.no_grad():
        full = ids[:nfull * M].view(nfull, M)
        for b in range(0, nfull, batch):
            x = full[b:b + batch]
            lp = torch.log_softmax(forward_b(cfg, w, x, dense)[:, :-1], dim=-1)
            nll = -lp.gather(2, x[:, 1:].unsqueeze(-1)).squeeze(-1)
            total += float(nll.to(torch.float64).sum())
            count += nll.numel()
        tail = ids[nfull * M:]
        if len(tail) >= 2:
            lp = torch.log_softmax(forward_b(cfg, w, tail.view(1, -1), dense)[0, :-1], dim=-1)
            nll = -lp.gather(1, tail[1:].view(-1, 1)).view(-1)
            total += float(nll.to(torch.float64).sum())
            count += nll.numel()
    return total / count, count


# ---------------------------------------------------------------------------
# training state: checkpoint and exact resume

def save_state(path, state):
    """Atomic: write path.tmp, fsync, rename (a kill leaves the old state)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


RESUME_KEYS = ("family", "d", "layers", "heads", "inter", "experts", "dk", "kvh", "window", "ctx",
               "batch", "steps", "warmup", "lr", "wd", "seed", "extra", "autocast")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", required=True, choices=["mole", "molkv", "dense"])
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "build", "demo-data"))
    ap.add_argument("--out", help="checkpoint dir (default tests/demo/models/<family>)")
    ap.add_argument("--log", help="log file (default tests/demo/<family>.log)")
    ap.add_argument("--state", help="training state dir (optimizer, RNG, step; default "
                    "build/demo-train/<family>-s<seed>); a run resumes from STATE/state.pt")
    ap.add_argument("--d", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--inter", type=int, default=384)
    ap.add_argument("--experts", type=int, default=4)
    ap.add_argument("--dk", type=int, default=64)
    ap.add_argument("--kvh", type=int, default=2)
    ap.add_argument("--window", type=int, default=0)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=560)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--extra", type=int, default=1, help="1: also train on DATA/extra.ids (default)")
    ap.add_argument("--autocast", type=int, default=1,
                    help="1: BF16 autocast for the matmuls of training (float32 master weights; "
                         "oneDNN BF16 matmuls are ~10x faster than the float32 BLAS here)")
    ap.add_argument("--dtype", default="bf16", choices=["f32", "bf16", "f16"])
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=100, help="quick held-out loss in the log (0: off)")
    ap.add_argument("--ckpt-minutes", type=float, default=3, help="save the training state this often")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared 2-core machine 2 threads ran 5x slower)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    out = a.out or os.path.join(HERE, "models", a.family)
    logpath = a.log or os.path.join(HERE, a.family + ".log")
    sdir = a.state or os.path.join(HERE, "..", "..", "build", "demo-train", "%s-s%d" % (a.family, a.seed))
    os.makedirs(sdir, exist_ok=True)
    spath = os.path.join(sdir, "state.pt")
    resume = torch.load(spath) if os.path.exists(spath) else None
    if resume is not None:
        mism = [k for k in RESUME_KEYS if resume["args"].get(k) != getattr(a, k)]
        if mism:
            sys.exit("train.py: %s was saved with other settings (%s); remove it to start over"
                     % (spath, ", ".join("%s %r != %r" % (k, resume["args"].get(k), getattr(a, k)) for k in mism)))
    logf = open(logpath, "a" if resume is not None else "w")

    def log(s):
        print(s, flush=True)
        logf.write(s + "\n")
        logf.flush()

    tokpath = os.path.join(a.data, "tokenizer.json")
    with open(tokpath) as f:
        tok = json.load(f)
    V = len(tok["model"]["vocab"]) + sum(1 for t in tok["added_tokens"] if t["content"] not in tok["model"]["vocab"])
    eot = next(t["id"] for t in tok["added_tokens"] if t["content"] == "<|endoftext|>")
    cdict = make_config(a, V, eot, eot)
    cfg = ref.Config.from_dict(cdict)
    dense = a.family == "dense"
    fortune_ids = read_ids(os.path.join(a.data, "train.ids"))
    extra_ids = read_ids(os.path.join(a.data, "extra.ids")) if a.extra else torch.zeros(0, dtype=torch.long)
    train_ids = torch.cat([fortune_ids, extra_ids])
    held_ids = read_ids(os.path.join(a.data, "heldout.ids"))

    w = init_params(cfg, dense, a.seed)
    n_total = sum(p.numel() for p in w.values())
    # active per token: everything except the experts (looked up, not computed)
    n_active = sum(p.numel() for k, p in w.items() if ".experts." not in k and "expert_keys" not in k
                   and "expert_layernorm" not in k)
    if resume is None:
        log("train.py %s" % " ".join(sys.argv[1:]))
        log("torch %s, %d threads, seed %d, autocast %s" % (torch.__version__, torch.get_num_threads(), a.seed,
                                                          "bf16" if a.autocast else "off"))
        log("config: %s" % json.dumps(cdict, sort_keys=True))
        log("params: total %d (%.3fM), active per token %d (%.3fM)%s"
            % (n_total, n_total / 1e6, n_active, n_active / 1e6,
               " (dense: the checkpoint adds zero expert weights)" if dense else ""))
        log("data: train %d ids (fortunes %d + extra %d), held-out %d ids; batch %d x %d = %d ids/step, "
            "%d steps = %d ids = %.2f epochs"
            % (len(train_ids), len(fortune_ids), len(extra_ids), len(held_ids), a.batch, a.ctx, a.batch * a.ctx,
               a.steps, a.steps * a.batch * a.ctx, a.steps * a.batch * a.ctx / len(train_ids)))

        # the batched forward is the reference forward
        with torch.no_grad():
            probe = train_ids[:40].view(2, 20)
            got = forward_b(cfg, w, probe, dense)
            wref = dense_to_checkpoint(cfg, w) if dense else {k: v.detach() for k, v in w.items()}
            diff = max(float((got[i] - ref.forward(cfg, wref, probe[i].tolist())).abs().max()) for i in range(2))
        log("check: batched forward vs lutdb_ref.forward at init, max abs diff %.3g" % diff)
        if diff > 1e-4:
            sys.exit("train.py: batched forward disagrees with the reference")

    decay = [p for k, p in w.items() if p.dim() == 2]
    no_decay = [p for k, p in w.items() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)

    def lr_at(s):
        if s < a.warmup:
            return a.lr * (s + 1) / a.warmup
        t = (s - a.warmup) / max(1, a.steps - a.warmup)
        return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))

    g = torch.Generator().manual_seed(a.seed + 1)
    start, elapsed, run_loss, run_n = 0, 0.0, 0.0, 0
    if resume is not None:
        with torch.no_grad():
            for k, p in w.items():
                p.copy_(resume["weights"][k])
        opt.load_state_dict(resume["opt"])
        g.set_state(resume["gen"])
        start, elapsed, run_loss, run_n = resume["step"], resume["elapsed"], resume["run_loss"], resume["run_n"]
        log("resumed from %s at step %d (%.1f min of training so far)" % (spath, start, elapsed / 60))
        del resume

    def quick_heldout():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(a.autocast)):
            return heldout_loss(cfg, w, held_ids, dense, batch=32)[0]

    def state():
        return {"args": {k: getattr(a, k) for k in RESUME_KEYS}, "step": step + 1, "elapsed": elapsed,
                "run_loss": run_loss, "run_n": run_n, "gen": g.get_state(), "opt": opt.state_dict(),
                "weights": {k: v.detach().clone() for k, v in w.items()}}

    t0 = time.time() - elapsed
    last_save = time.time()
    step = start - 1
    for step in range(start, a.steps):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step)
        starts = torch.randint(0, len(train_ids) - a.ctx - 1, (a.batch,), generator=g)
        win = torch.stack([train_ids[s:s + a.ctx + 1] for s in starts.tolist()])
        x, y = win[:, :-1], win[:, 1:]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(a.autocast)):
            logits = forward_b(cfg, w, x, dense)
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, cfg.V), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
        opt.step()
        run_loss += float(loss)
        run_n += 1
        elapsed = time.time() - t0
        if (step + 1) % a.log_every == 0 or step == 0 or step + 1 == a.steps:
            extra = ""
            if a.eval_every and ((step + 1) % a.eval_every == 0 or step + 1 == a.steps):
                te = time.time()
                extra = "  held-out %.4f (bf16, %.0fs)" % (quick_heldout(), time.time() - te)
                t0 += time.time() - te  # the quick eval is not training time
                elapsed = time.time() - t0
            log("step %5d  loss %.4f  lr %.2e  gnorm %.2f  %6.1fs  %.0f ids/s%s"
                % (step + 1, run_loss / run_n, lr_at(step), float(gn), elapsed,
                   (step + 1) * a.batch * a.ctx / elapsed, extra))
            run_loss, run_n = 0.0, 0
        if time.time() - last_save > 60 * a.ckpt_minutes and step + 1 < a.steps:
            save_state(spath, state())
            last_save = time.time()
    train_time = elapsed
    log("training time %.1fs (%.1f min), %d ids, %.0f ids/s"
        % (train_time, train_time / 60, a.steps * a.batch * a.ctx, a.steps * a.batch * a.ctx / train_time))
    if a.steps > start:
        save_state(spath, state())  # the final weights: a crash below does not lose the run

    # checkpoint
    ck = dense_to_checkpoint(cfg, w) if dense else {k: v.detach().clone() for k, v in w.items()}
    ck = ref.cast_weights(ck, a.dtype.upper())
    if os.path.exists(out):
        shutil.rmtree(out)
    nbytes = sum(v.numel() * v.element_size() for v in ck.values())
    shards = max(1, math.ceil(nbytes / (3.5 * 2 ** 20)))  # every committed file <= 4 MiB
    ref.save_checkpoint(out, cdict, ck, shards=shards, generation_config={
        "bos_token_id": eot, "eos_token_id": eot, "do_sample": False, "max_new_tokens": 60})
    shutil.copyfile(tokpath, os.path.join(out, "tokenizer.json"))

    # the saved checkpoint, through the reference loader and eval
    cfg2, w2 = ref.load_checkpoint(out)
    t1 = time.time()
    with torch.no_grad():
        probe = held_ids[:cfg.max_pos]
        wst = {k: v.detach().float() for k, v in w2.items()}
        got = forward_b(cfg2, wst, probe.view(1, -1), False)[0]
        d_ref = float((got - ref.forward(cfg2, w2, probe.tolist())).abs().max())
        hl2, hn2 = heldout_loss(cfg2, wst, held_ids, False)
    log("checkpoint %s (%s, %d file(s)): reloaded with lutdb_ref.load_checkpoint; batched vs lutdb_ref.forward "
        "max abs diff %.3g; held-out loss %.4f nats/token (ppl %.2f) over %d tokens (%.1fs)"
        % (os.path.relpath(out, HERE), a.dtype.upper(), shards, d_ref, hl2, math.exp(hl2), hn2, time.time() - t1))
    log("done: held-out %.4f (stored %s weights), train time %.1f min" % (hl2, a.dtype.upper(), train_time / 60))
    with open(os.path.join(sdir, "done.json"), "w") as f:
        json.dump({"family": a.family, "seed": a.seed, "heldout": hl2, "tokens": hn2, "train_s": train_time,
                   "out": os.path.abspath(out), "ids": a.steps * a.batch * a.ctx}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
