"""quant_ref: independent PyTorch reference of the block-quantized types.

The rules are spec/FORMAT.md section 10 (format 1.1): Q8_0 and Q4_0 as
ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref, NF4 (QLoRA's
NormalFloat4) and NF3 (the same construction with 8 code values) with an F16
scale per block of B values.  The C codec (format/quant/quant.c) is checked
against this file byte for byte; the two share no code.

Every arithmetic step is one float32 tensor operation, rounded on its own,
in the order the spec writes it.  Three steps need care in torch:
  * C's roundf (ties away from zero) is not torch.round (ties to even): it is
    built here from trunc and the exact fractional part;
  * C's (int8_t) conversion truncates toward zero: torch.trunc;
  * "a / b" must be a true float32 division, never a multiplication by a
    rounded reciprocal, so both operands are full tensors of the same shape.
F16 conversion is torch's Tensor.half() (round to nearest even; it is what
lutdb_f32_to_f16 is tested against).  Byte packing uses numpy; no
arithmetic does.

Public API
    Q8_0, Q4_0, NF4, NF3           dtype codes (16..19)
    NAMES / CODES                  "Q8_0" <-> 16 ...
    NF4_CODE, NF3_CODE             pinned code values (float)
    NF_OFFSET                      the offsets used to derive them
    nf_points(k), derive_nf_code(k)  the derivation (bitsandbytes' procedure)
    nf_split(code)                 float32 decision thresholds of the
                                   nearest-code rule (informative)
    check_block(dtype, B)          raises QuantError for an invalid B
    block_bytes(dtype, B), row_bytes(dtype, B, n)
    quantize(dtype, B, x)          float32 tensor [n] -> bytes
    dequantize(dtype, B, data, n)  bytes -> float32 tensor [n]
    QuantRangeError                input refused (non-finite, F16 overflow)
    QuantCorruptError              stored scale not finite (hostile bytes)
"""

from statistics import NormalDist

import numpy as np
import torch

Q8_0, Q4_0, NF4, NF3 = 16, 17, 18, 19
NAMES = {Q8_0: "Q8_0", Q4_0: "Q4_0", NF4: "NF4", NF3: "NF3"}
CODES = {v: k for k, v in NAMES.items()}

BLOCK_MAX = 8192           # largest B for NF4/NF3 (the C codec's LQ_BLOCK_MAX)
DEFAULT_BLOCK = {Q8_0: 32, Q4_0: 32, NF4: 64, NF3: 64}

# QLoRA / bitsandbytes NF4, as float32 values (the list).
NF4_CODE = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]
# NF3: derive_nf_code(3), pinned (check_ref.py re-derives it).
NF3_CODE = [
    -1.0, -0.5350227952003479, -0.24693147838115692, 0.0,
    0.1833374798297882, 0.38199394941329956, 0.62298583984375, 1.0,
]
# The offset is 1 - (1/(2n) + 1/(2(n-1)))/2 for n = 2^k code values, written
# to 7 decimal places as bitsandbytes writes NF4's (n = 16: 0.96770833...).
NF_OFFSET = {4: 0.9677083, 3: 0.9330357}


class QuantError(ValueError):
    pass


class QuantRangeError(QuantError):
    pass


class QuantCorruptError(QuantError):
    pass


# ---------------------------------------------------------------------------
# NF code values

def nf_points(k):
    """The float32 probabilities of bitsandbytes' create_normal_map for k
    bits: torch.linspace(offset, 0.5, 2^(k-1) + 1) (positive side, last
    point dropped) and torch.linspace(offset, 0.5, 2^(k-1)) (negative side,
    last point dropped), in float32 as torch computes them."""
    n = 2 ** (k - 1)
    pos = torch.linspace(NF_OFFSET[k], 0.5, n + 1, dtype=torch.float32)[:-1]
    neg = torch.linspace(NF_OFFSET[k], 0.5, n, dtype=torch.float32)[:-1]
    return [float(p) for p in pos], [float(p) for p in neg]


def derive_nf_code(k):
    """NF code values for k bits: the standard normal quantiles at the
    float32 points (float64 inverse CDF, Python's statistics.NormalDist),
    2^(k-1) positive, 2^(k-1) - 1 negative and an exact zero; rounded to
    float32, sorted, and divided (float32) by the largest."""
    ppf = NormalDist().inv_cdf
    pos, neg = nf_points(k)
    v = [ppf(p) for p in pos] + [0.0] + [-ppf(p) for p in neg]
    t = torch.tensor(v, dtype=torch.float32).sort().values
    t = torch.div(t, t.max().expand_as(t).contiguous())
    return [float(c) for c in t]


def _key(f):
    """float32 -> integer in the same order (+0 and -0 both 0)."""
    u = int(np.float32(f).view(np.uint32))
    return -(u & 0x7FFFFFFF) if u & 0x80000000 else u


def _unkey(k):
    u = k if k >= 0 else ((-k) | 0x80000000)
    return float(np.uint32(u).view(np.float32))


def _picks_lower(z, lo, hi):
    """The nearest-code rule between adjacent codes lo < hi at float32 z:
    float32 distances, ties to the lower index."""
    z, lo, hi = np.float32(z), np.float32(lo), np.float32(hi)
    return abs(np.float32(z - lo)) <= abs(np.float32(z - hi))


def nf_split(code):
    """t[i] = the largest float32 z for which the rule picks code[i] over
    code[i+1].  Because the float32 distances are monotonic in z, the
    nearest-code index of z is the number of t[i] with z > t[i]."""
    out = []
    for i in range(len(code) - 1):
        lo, hi = _key(code[i]), _key(code[i + 1])
        # invariant: picks_lower at lo, not at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _picks_lower(_unkey(mid), code[i], code[i + 1]):
                lo = mid
            else:
                hi = mid
        out.append(_unkey(lo))
    return out


# ---------------------------------------------------------------------------
# sizes and checks

def check_block(dtype, block):
    if dtype not in NAMES:
        raise QuantError("unknown dtype %r" % (dtype,))
    if dtype in (Q8_0, Q4_0):
        if block != 32:
            raise QuantError("%s: block %d, only 32 is allowed" % (NAMES[dtype], block))
    elif block < 32 or block % 32 or block > BLOCK_MAX:
        raise QuantError("%s: block %d is not a multiple of 32 in 32..%d" % (NAMES[dtype], block, BLOCK_MAX))


def block_bytes(dtype, block):
    check_block(dtype, block)
    return 2 + {Q8_0: block, Q4_0: block // 2, NF4: block // 2, NF3: 3 * block // 8}[dtype]


def row_bytes(dtype, block, n):
    if n % block:
        raise QuantError("%s: %d values is not a multiple of the block %d" % (NAMES[dtype], n, block))
    return n // block * block_bytes(dtype, block)


# ---------------------------------------------------------------------------
# float32 steps

def _div(a, b):
    """True float32 division, elementwise, b broadcast to a's shape first."""
    return torch.div(a, b.expand_as(a).contiguous())


def _roundf(v):
    """C roundf in float32: nearest integer, halfway cases away from zero.
    v - trunc(v) is exact for every float32, so the test on it is exact."""
    t = torch.trunc(v)
    up = ((v - t).abs() >= 0.5).to(torch.float32)
    return t + torch.sign(v) * up


def _recip_or_zero(d):
    """id = 1/d in float32; 0 where d is 0 or where 1/d overflows (d below
    about 2^-128, only for blocks whose values are all float32-subnormal in
    scale; ggml leaves that case undefined)."""
    ones = torch.ones_like(d)
    nz = d != 0
    r = torch.div(ones, torch.where(nz, d, ones))
    return torch.where(nz & torch.isfinite(r), r, torch.zeros_like(d))


def _blocks(dtype, block, x):
    check_block(dtype, block)
    x = torch.as_tensor(x)
    if x.dtype != torch.float32 or x.dim() != 1:
        raise QuantError("input must be a 1-D float32 tensor")
    if x.numel() == 0 or x.numel() % block:
        raise QuantError("%s: %d values is not a positive multiple of the block %d"
                         % (NAMES[dtype], x.numel(), block))
    X = x.reshape(-1, block)
    bad = ~torch.isfinite(X)
    if bool(bad.any()):
        i = int(bad.flatten().nonzero()[0])
        raise QuantRangeError("%s: value %d (block %d) is not finite" % (NAMES[dtype], i, i // block))
    return X


def _scale_f16(dtype, scale, what):
    """F16 of the float32 scale; refused when it rounds to infinity."""
    h = scale.half()
    inf = torch.isinf(h)
    if bool(inf.any()):
        b = int(inf.nonzero()[0])
        raise QuantRangeError("%s: block %d: %s %.9g overflows F16" % (NAMES[dtype], b, what, float(scale[b])))
    return h


def _scale_bytes(h):
    return np.ascontiguousarray(h.numpy().astype("<f2")).view(np.uint8).reshape(-1, 2)


# ---------------------------------------------------------------------------
# quantize

def _q8_0(X):
    amax = X.abs().amax(dim=1)
    d = _div(amax, torch.full_like(amax, 127.0))
    h = _scale_f16(Q8_0, d, "scale amax/127 =")
    idv = _recip_or_zero(d)
    q = _roundf(X * idv[:, None])
    assert bool((q.abs() <= 127).all())
    qs = q.to(torch.int8).numpy().view(np.uint8)
    return np.concatenate([_scale_bytes(h), qs], axis=1)


def _q4_0(X):
    A = X.abs()
    amax = A.amax(dim=1)
    first = (A == amax[:, None]).to(torch.uint8).argmax(dim=1)  # first index on ties
    mx = X.gather(1, first[:, None])[:, 0]
    # ggml starts max at +0.0 and replaces it only by a strictly larger |v|:
    # an all-zero block keeps +0.0 even when its values are -0.0.
    mx = torch.where(amax > 0, mx, torch.zeros_like(mx))
    d = _div(mx, torch.full_like(mx, -8.0))
    h = _scale_f16(Q4_0, d, "scale max/-8 =")
    idv = _recip_or_zero(d)
    v = X * idv[:, None]
    w = v + torch.full_like(v, 8.5)
    t = torch.trunc(w)
    assert bool((t >= 0).all() and (t <= 16).all())
    q = torch.clamp(t, max=15.0).to(torch.uint8).numpy()
    qs = q[:, :16] | (q[:, 16:] << 4)
    return np.concatenate([_scale_bytes(h), qs], axis=1)


def _nf_index(X, dtype, code):
    s = X.abs().amax(dim=1)
    h = _scale_f16(dtype, s, "scale max|x| =")
    sf = h.float()
    nz = (sf != 0)[:, None].expand_as(X)
    z = torch.where(nz, _div(X, torch.where(sf != 0, sf, torch.ones_like(sf))[:, None]), torch.zeros_like(X))
    c = torch.tensor(code, dtype=torch.float32)
    dist = (z[:, :, None] - c.expand(*z.shape, len(code)).contiguous()).abs()
    idx = dist.argmin(dim=2)  # first (lowest) index among equal minima
    return h, idx.to(torch.uint8).numpy()


def _nf4(X):
    h, idx = _nf_index(X, NF4, NF4_CODE)
    qs = idx[:, 0::2] | (idx[:, 1::2] << 4)
    return np.concatenate([_scale_bytes(h), qs], axis=1)


def _nf3(X):
    h, idx = _nf_index(X, NF3, NF3_CODE)
    g = idx.astype(np.uint32).reshape(idx.shape[0], -1, 8)
    w = np.zeros(g.shape[:2], dtype=np.uint32)
    for j in range(8):
        w |= g[:, :, j] << (3 * j)
    b = np.stack([w & 0xFF, (w >> 8) & 0xFF, (w >> 16) & 0xFF], axis=2).astype(np.uint8)
    return np.concatenate([_scale_bytes(h), b.reshape(idx.shape[0], -1)], axis=1)


_QUANT = {Q8_0: _q8_0, Q4_0: _q4_0, NF4: _nf4, NF3: _nf3}


def quantize(dtype, block, x):
    """Quantizes the 1-D float32 tensor x (length a positive multiple of
    block) into its blocks, back to back.  Raises QuantRangeError for a
    non-finite value or a scale that overflows F16."""
    X = _blocks(dtype, block, x)
    out = _QUANT[dtype](X)
    assert out.shape == (X.shape[0], block_bytes(dtype, block))
    return out.tobytes()


# ---------------------------------------------------------------------------
# dequantize

def dequantize(dtype, block, data, n):
    """Decodes n values from data (exactly row_bytes(dtype, block, n)).
    Raises QuantCorruptError for a scale that is not finite."""
    nb_bytes = row_bytes(dtype, block, n)
    if n <= 0 or len(data) != nb_bytes:
        raise QuantError("%s: %d bytes, expected %d for %d values" % (NAMES[dtype], len(data), nb_bytes, n))
    raw = np.frombuffer(bytes(data), dtype=np.uint8).reshape(n // block, -1)
    h = torch.from_numpy(raw[:, :2].copy().view("<f2")[:, 0].astype(np.float16))
    sc = h.float()
    bad = ~torch.isfinite(sc)
    if bool(bad.any()):
        b = int(bad.nonzero()[0])
        raise QuantCorruptError("%s: block %d: scale is not finite" % (NAMES[dtype], b))
    body = raw[:, 2:]
    if dtype == Q8_0:
        q = torch.from_numpy(body.view(np.int8).astype(np.float32))
        return (q * sc[:, None]).reshape(-1)
    if dtype == Q4_0:
        q = np.concatenate([body & 15, body >> 4], axis=1).astype(np.int32) - 8
        return (torch.from_numpy(q.astype(np.float32)) * sc[:, None]).reshape(-1)
    if dtype == NF4:
        idx = np.stack([body & 15, body >> 4], axis=2).reshape(body.shape[0], -1)
        code = NF4_CODE
    else:
        b = body.astype(np.uint32).reshape(body.shape[0], -1, 3)
        w = b[:, :, 0] | (b[:, :, 1] << 8) | (b[:, :, 2] << 16)
        idx = np.stack([(w >> (3 * j)) & 7 for j in range(8)], axis=2).reshape(body.shape[0], -1)
        code = NF3_CODE
    c = torch.tensor(code, dtype=torch.float32)[torch.from_numpy(idx.astype(np.int64))]
    return (c * sc[:, None]).reshape(-1)
