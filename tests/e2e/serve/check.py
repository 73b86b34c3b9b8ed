"""check.py - assertions for tests/e2e/test_serve.sh on server responses.

  check.py get FILE PATH            print a field of a JSON file (PATH: a.b.0.c; lists as JSON)
  check.py err FILE TYPE            the body is an OpenAI error object of TYPE
  check.py sse FILE                 a well-formed event stream: prints its JSON summary
                                    {"text", "tokens", "finish", "chunks", "usage", "logprobs"}
  check.py logprobs FILE DUMP VOCAB NPROMPT
                                    each generated token's logprob and top_logprobs equal the
                                    log-softmax of the `lutdb run --dump-logits` rows
  check.py same A B                 the choices of two responses are identical (text, tokens,
                                    logprobs: bit for bit, as JSON numbers)
"""
import json
import math
import struct
import sys


def load(p):
    with open(p, "rb") as f:
        return json.loads(f.read())


def get(v, path):
    for k in path.split("."):
        if k == "":
            continue
        v = v[int(k)] if isinstance(v, list) else v[k]
    return v


def sse(p):
    raw = open(p, "rb").read().decode("utf-8")
    events = [e for e in raw.split("\n\n") if e.strip()]
    assert events, "no events"
    assert events[-1] == "data: [DONE]", "last event is not [DONE]: %r" % events[-1][:80]
    out = {"text": "", "tokens": [], "finish": None, "chunks": 0, "usage": None,
           "logprobs": {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}}
    for e in events[:-1]:
        assert e.startswith("data: ") and "\n" not in e, "malformed event %r" % e[:80]
        d = json.loads(e[6:])
        if "error" in d:
            out["error"] = d["error"]
            continue
        assert d["object"] == "text_completion", d
        if d.get("usage"):
            assert d["choices"] == [], "usage chunk with choices"
            out["usage"] = d["usage"]
            continue
        c = d["choices"][0]
        assert out["finish"] is None, "a chunk after the finish"
        out["chunks"] += 1
        out["text"] += c["text"]
        out["tokens"] += c.get("tokens", [])
        out["finish"] = c["finish_reason"]
        if c.get("logprobs"):
            for k in out["logprobs"]:
                out["logprobs"][k] += c["logprobs"][k]
    return out


def log_softmax_rows(dump, vocab):
    b = open(dump, "rb").read()
    n = len(b) // (4 * vocab)
    rows = []
    for r in range(n):
        x = struct.unpack_from("<%df" % vocab, b, 4 * vocab * r)
        m = max(x)
        s = math.log(math.fsum(math.exp(v - m) for v in x)) + m
        rows.append([v - s for v in x])
    return rows


def main():
    op, a = sys.argv[1], sys.argv[2:]
    if op == "get":
        v = get(load(a[0]), a[1])
        print(v if isinstance(v, str) else json.dumps(v))
    elif op == "err":
        d = load(a[0])
        e = d["error"]
        assert set(e) == {"message", "type", "param", "code"}, e
        assert e["type"] == a[1], "type %r, expected %r" % (e["type"], a[1])
        assert isinstance(e["message"], str) and e["message"], e
    elif op == "sse":
        print(json.dumps(sse(a[0])))
    elif op == "logprobs":
        d = load(a[0])
        vocab, npr = int(a[2]), int(a[3])
        rows = log_softmax_rows(a[1], vocab)
        lp = d["choices"][0]["logprobs"]
        ids = d["choices"][0]["tokens"]
        assert len(lp["token_logprobs"]) == len(ids) > 0
        for i, t in enumerate(ids):
            row = rows[npr - 1 + i]
            assert abs(lp["token_logprobs"][i] - row[t]) < 1e-6, (i, lp["token_logprobs"][i], row[t])
            top = lp["top_logprobs"][i]
            want = sorted(range(vocab), key=lambda j: (-row[j], j))[:len(top)]
            assert [int(k) for k in top] == want, (i, list(top), want)
            for k, v in top.items():
                assert abs(v - row[int(k)]) < 1e-6
        print(len(ids))
    elif op == "same":
        x, y = load(a[0])["choices"], load(a[1])["choices"]
        assert x == y, "choices differ"
    else:
        sys.exit("check.py: unknown op " + op)


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, KeyError, IndexError, ValueError, TypeError) as e:
        print("check.py %s: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(1)
