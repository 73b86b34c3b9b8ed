#!/usr/bin/env python3
"""fuzz/mkseeds.py BUILD - regenerates the seed corpora in fuzz/corpus/.

Needs BUILD/lutdb, BUILD/tests/tools/gen_model, the PyTorch fixtures in
BUILD/fixtures (tests/run.sh makes them) and the tokenizer fixtures in
BUILD/tokenizer-fixtures (tests/tokenizer/run.sh makes them; TOKFIX=DIR
overrides).  Seeds are
kept small (the whole fuzz/ directory stays under 2 MB): tiny checkpoints
made by gen_model, packed in several variants, the fixture configs, trimmed
tokenizers, and records, keys and rows cut out of the packed databases.
Regression inputs (crashes found and fixed) live next to the seeds as
crash-*, oom-*, timeout-* or regress-* files; this script never removes
them.  Run it only when the format changes; the corpora are committed.
"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
LUTDB = os.path.join(BUILD, "lutdb")
GEN = os.path.join(BUILD, "tests", "tools", "gen_model")
FIX = os.path.join(BUILD, "fixtures")
TOKFIX = os.environ.get("TOKFIX") or next(
    (d for d in (os.path.join(BUILD, "tokenizer-fixtures"),) if os.path.isdir(d)), None)
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
PG = 4096


def reset(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.unlink(os.path.join(d, f))
    return d


def put(d, name, data):
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


# ---- minimal LMDB reader (lutdb files: one main leaf page, 4 KiB pages) ------
def lmdb_values(path):
    """{db name: [(key, value)]} in key order."""
    b = open(path, "rb").read()
    metas = [b[i * PG:i * PG + 160] for i in range(2)]
    m = max(metas, key=lambda x: struct.unpack_from("<Q", x, 144)[0])
    main_root = struct.unpack_from("<Q", m, 40 + 48 + 40)[0]
    out = {}

    def walk(pgno, name, into):
        pg = b[pgno * PG:(pgno + 1) * PG]
        flags, lower = struct.unpack_from("<HH", pg, 10)
        for i in range((lower - 16) // 2):
            off = struct.unpack_from("<H", pg, 16 + 2 * i)[0]
            lo, hi, nf, ks = struct.unpack_from("<HHHH", pg, off)
            key = pg[off + 8:off + 8 + ks]
            if flags & 1:
                walk(lo | hi << 16 | nf << 32, name, into)
                continue
            size = lo | hi << 16
            if nf & 2:
                root = struct.unpack_from("<Q", pg, off + 8 + ks + 40)[0]
                sub = out.setdefault(key.decode(), [])
                if root != 2**64 - 1:
                    walk(root, key.decode(), sub)
            elif nf & 1:
                opg = struct.unpack_from("<Q", pg, off + 8 + ks)[0]
                into.append((key, b[opg * PG + 16:opg * PG + 16 + size]))
            else:
                into.append((key, pg[off + 8 + ks:off + 8 + ks + size]))

    walk(main_root, "main", [])
    return out


# ---- tiny models ------------------------------------------------------------
def tiny_ckpt(tmp, name, family="mole", extra=()):
    d = os.path.join(tmp, name)
    args = [GEN, "ckpt", d, "--vocab", "40", "--hidden", "16", "--layers", "2", "--experts", "2",
            "--inter", "16", "--heads", "2"]
    if family == "molkv":
        args += ["--family", "molkv", "--kv-dim", "8", "--kv-heads", "2", "--window", "3"]
    run(*(args + list(extra)))
    return d


def trim_tokenizer(path, keep=320):
    """The fixture tokenizer's pipeline with only its first `keep` ids."""
    d = json.load(open(path))
    m = d["model"]
    vocab = {t: i for t, i in m["vocab"].items() if i < keep}
    pre = m.get("continuing_subword_prefix") or ""
    suf = m.get("end_of_word_suffix") or ""
    merges = []
    for mg in m["merges"]:
        a, b = mg if isinstance(mg, list) else mg.split(" ", 1)
        joined = a[:-len(suf)] if suf and a.endswith(suf) else a
        joined += b[len(pre):] if pre and b.startswith(pre) else b
        if a in vocab and b in vocab and joined in vocab:
            merges.append(mg)
    m["vocab"] = vocab
    m["merges"] = merges
    # At most 4 added tokens, renumbered past the kept ids when above them.
    added, nxt = [], keep
    for t in (d.get("added_tokens") or [])[:4]:
        if t["id"] >= keep:
            old = t["id"]
            t = dict(t, id=nxt)
            nxt += 1
            fix_ids(d.get("post_processor"), old, t["id"])
        added.append(t)
    d["added_tokens"] = added
    return json.dumps(d, ensure_ascii=False, separators=(",", ":")).encode()


def fix_ids(node, old, new):
    """Renumbers special-token ids inside a post-processor tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "ids" and isinstance(v, list):
                node[k] = [new if x == old else x for x in v]
            else:
                fix_ids(v, old, new)
    elif isinstance(node, list):
        for v in node:
            fix_ids(v, old, new)


def quant_seeds(tmp, dr):
    """Format 1.1 records (spec/FORMAT.md 10): the file header, a table record
    and a quantized tensor of two fixture packs (the tiny models' d = 16 takes
    no block), and hostile variants: block sizes a reader must refuse, and
    a block scale that is infinity or NaN."""
    packs = {"q.molkv_nf4": ("molkv_train_f32", ["--table-dtype", "nf4", "--table-block", "32",
                                                  "--weight-dtype", "q4_0"]),
             "q.mole_q8": ("mole_rep_f16", ["--table-dtype", "q8_0", "--weight-dtype", "q8_0"])}
    for n, (case, opts) in packs.items():
        out = os.path.join(tmp, n + ".lutdb")
        run(LUTDB, "pack", os.path.join(FIX, case, "ckpt"), out, "--quiet", "--threads", "1",
            "--block-tokens", "3", *opts)
        v = lmdb_values(out)
        hdr = dict(v["meta"])[b"lutdb"]
        put(dr, n + ".meta.lutdb", hdr)
        tab = v["table"][0][1]
        put(dr, n + ".table.first", tab)
        hl, = struct.unpack_from("<I", tab, 8)
        for scale, what in ((0x7C00, "inf"), (0xFE00, "nan")):
            bad = bytearray(tab)
            struct.pack_into("<H", bad, hl, scale)
            put(dr, "%s.table.scale_%s" % (n, what), bytes(bad))
        tens = dict(v["tensors"])
        put(dr, n + ".tensor.k_proj", tens[b"model.layers.0.self_attn.k_proj.weight"])
        # the block size at offset 32 + 76 of the LHDR record
        for blk in (0, 1, 48, 96, 8224, 0x80000000, 0xFFFFFFFF):
            bad = bytearray(hdr)
            struct.pack_into("<I", bad, 32 + 76, blk)
            put(dr, "%s.meta.lutdb.block_%d" % (n, blk), bytes(bad))
        bad = bytearray(hdr)
        struct.pack_into("<H", bad, 32 + 14, 0)  # minor 0 with a quantized table
        put(dr, n + ".meta.lutdb.minor0", bytes(bad))


def main():
    tmp = tempfile.mkdtemp(prefix="lutdb-seeds.")
    try:
        build(tmp)
    finally:
        shutil.rmtree(tmp)


def build(tmp):
    cases = open(os.path.join(FIX, "cases.txt")).read().split()

    # config.json (+ NUL + generation_config.json)
    d = reset("fuzz_config")
    for c in cases:
        ck = os.path.join(FIX, c, "ckpt")
        data = open(os.path.join(ck, "config.json"), "rb").read()
        g = os.path.join(ck, "generation_config.json")
        if os.path.exists(g):
            data += b"\0" + open(g, "rb").read()
        put(d, c + ".json", data)

    # tokenizers (trimmed fixtures) + a text
    tok_seeds = {}
    d = reset("fuzz_tokenizer")
    if TOKFIX:
        for p in sorted(glob.glob(os.path.join(TOKFIX, "*.json"))):
            n = os.path.basename(p)[:-5]
            if n == "manifest":
                continue
            t = trim_tokenizer(p)
            tok_seeds[n] = t
            put(d, n + ".json", t + b"\0The  quick 123 fox's \xe2\x96\x81 caf\xc3\xa9\n\xf0\x9f\x98\x80 <s>")

    # tiny checkpoints: safetensors seeds, and the databases
    mole = tiny_ckpt(tmp, "mole")
    molkv = tiny_ckpt(tmp, "molkv", "molkv")
    d = reset("fuzz_safetensors")
    put(d, "tiny_mole.safetensors", open(os.path.join(mole, "model.safetensors"), "rb").read())
    put(d, "tiny_molkv.safetensors", open(os.path.join(molkv, "model.safetensors"), "rb").read())
    for c in ("mole_train_sharded",):
        for p in sorted(glob.glob(os.path.join(FIX, c, "ckpt", "*.safetensors")))[:1]:
            raw = open(p, "rb").read()
            n = struct.unpack_from("<Q", raw)[0]
            hdr = json.loads(raw[8:8 + n])
            # header only, tensors shrunk to one element each, retiled
            off = 0
            for k in sorted(k for k in hdr if k != "__metadata__"):
                sz = {"F32": 4, "F16": 2, "BF16": 2}[hdr[k]["dtype"]]
                hdr[k]["shape"] = [1] * len(hdr[k]["shape"])
                hdr[k]["data_offsets"] = [off, off + sz]
                off += sz
            j = json.dumps(hdr).encode()
            put(d, c + ".safetensors", struct.pack("<Q", len(j)) + j + b"\0" * off)
    # hand-made: metadata, scalar, unsupported dtype, empty
    def st(h, data=b""):
        j = json.dumps(h).encode()
        return struct.pack("<Q", len(j)) + j + data
    put(d, "meta_scalar.safetensors", st({"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [],
         "data_offsets": [0, 4]}, "b": {"dtype": "BF16", "shape": [2, 1], "data_offsets": [4, 8]}}, b"\0" * 8))
    put(d, "i64.safetensors", st({"x": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8))
    put(d, "empty.safetensors", st({}))

    # databases: tiny packs in several variants, plus one fixture pack
    tokf = os.path.join(tmp, "tokenizer.json")
    if TOKFIX and os.path.exists(os.path.join(TOKFIX, "llama2.json")):
        # ids must fit the tiny model's vocabulary of 40
        open(tokf, "wb").write(trim_tokenizer(os.path.join(TOKFIX, "llama2.json"), keep=36))
    else:
        tokf = None
    dbs = {}
    variants = [("mole_f16", mole, []), ("mole_bf16_shlz4", mole, ["--dtype", "bf16", "--codec", "shuffle-lz4"]),
                ("mole_f32_lz4", mole, ["--dtype", "f32", "--codec", "lz4", "--block-tokens", "7"]),
                ("molkv_f16", molkv, ["--block-tokens", "5"]),
                ("molkv_f16_shlz4", molkv, ["--codec", "shuffle-lz4", "--block-tokens", "64"])]
    if tokf:
        variants.append(("mole_f16_tok", mole, ["--tokenizer", tokf, "--block-tokens", "40"]))
    for name, src, opts in variants:
        out = os.path.join(tmp, name + ".lutdb")
        run(LUTDB, "pack", src, out, "--quiet", "--threads", "1", *opts)
        dbs[name] = out
    fx = os.path.join(tmp, "fixture.lutdb")
    run(LUTDB, "pack", os.path.join(FIX, "mole_tied_gqa", "ckpt"), fx, "--quiet", "--threads", "1")
    dbs["fixture_mole_tied_gqa"] = fx
    d = reset("fuzz_database")
    for n, p in dbs.items():
        put(d, n + ".lutdb", open(p, "rb").read())

    # records, keys, rows from the tiny databases
    dr, dk, dc = reset("fuzz_record"), reset("fuzz_keys"), reset("fuzz_codec")
    for n in ("mole_f16", "mole_bf16_shlz4", "mole_f32_lz4", "molkv_f16"):
        v = lmdb_values(dbs[n])
        for key, val in v["meta"]:
            if key in (b"lutdb", b"config.json", b"digest"):
                put(dr, "%s.meta.%s" % (n, key.decode()), val)
        tens = v["tensors"]
        for key, val in (tens[0], tens[len(tens) // 2]):
            put(dr, "%s.tensor.%s" % (n, key.decode()), val)
        tab = v["table"]
        put(dr, "%s.table.first" % n, tab[0][1])
        put(dr, "%s.table.last" % n, tab[-1][1])
        for i, (key, val) in enumerate(tab[:2]):
            put(dk, "%s.%d" % (n, i), key)
        # rows of a compressed record: codec, elem, raw_len, scratch flag, bytes
        hl, = struct.unpack_from("<I", val := tab[0][1], 8)
        codec, dtype = val[7], val[6]
        if codec:
            count, = struct.unpack_from("<I", val, 36)
            row_bytes, = struct.unpack_from("<I", val, 48)
            elem = {1: 4, 2: 2, 3: 2}[dtype]
            esel = {1: 0, 2: 1, 4: 2}[elem]
            for i in range(min(count, 3)):
                _, off, ln = struct.unpack_from("<QII", val, 64 + 16 * i)
                put(dc, "%s.row%d" % (n, i), bytes([codec, esel]) + struct.pack("<I", row_bytes)[:3] +
                    bytes([i & 1]) + val[hl + off:hl + off + ln])
    put(dk, "short", b"\0\0\0")
    put(dk, "reserved", bytes([0, 1, 0, 1, 0, 0, 1, 0]))
    put(dk, "pair", bytes(range(16)))
    put(dc, "empty_lz4", bytes([1, 1, 0, 1, 0, 0]))
    put(dc, "none", bytes([0, 0, 4, 0, 0, 0]) + b"abcd")
    quant_seeds(tmp, dr)

    # manifests: made by fuzz_manifest itself (its shard files are built in
    # LLVMFuzzerInitialize); FUZZ_MANIFEST_SEEDS=dir makes it write them.
    fm = os.path.join(BUILD, "fuzz-replay", "fuzz_manifest")
    if os.path.exists(fm):
        d = reset("fuzz_manifest")
        env = dict(os.environ, FUZZ_MANIFEST_SEEDS=d)
        subprocess.run([fm, os.devnull], check=True, env=env, stdout=subprocess.DEVNULL)

    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(CORPUS, "*", "*")))
    print("fuzz/corpus: %d files, %d bytes" % (len(glob.glob(os.path.join(CORPUS, "*", "*"))), total))


if __name__ == "__main__":
    main()
