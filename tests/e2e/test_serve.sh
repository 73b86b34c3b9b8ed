#!/usr/bin/env bash
# lutdb serve end to end, on loopback only: every endpoint with curl, the
# bad-request catalogue (status and error type each), greedy completions
# against `lutdb run` (ids and text), logprobs against the log-softmax of
# `lutdb run --dump-logits`, 16 concurrent clients each bit-identical to its
# solo run, a slow and a disconnecting client that stall nobody, a full
# queue, the API key, SIGTERM; and the official `openai` npm client
# (installed from tests/e2e/serve/package-lock.json) pointed at the server.
#
# Servers listen on a free port (--port 0; the startup line says which) and
# are always stopped (trap).  Every wait is a bounded loop; every curl has
# --max-time.  LUTDB_SERVE_TEST_STEP_MS slows the steps where sequences must
# overlap in time (the fixture models decode in microseconds).  Under qemu
# every bound, wait, step delay and client timeout here is LUTDB_TIME_SCALE
# times the native one (lib.sh's scaled): the server is that much slower, and
# the delays a bound must catch grow with it, so each check can still fail.
. "$(dirname "$0")/lib.sh"
e2e_init serve
HERE=$E2E_ROOT/tests/e2e/serve
CHECK() { "$PY" "$HERE/check.py" "$@"; }
BIN=$LUTDB_BIN
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; e2e_cleanup' EXIT
# tries N: N times the time scale, rounded (the rounds of a polling loop).
tries() { awk -v n="$1" -v k="$E2E_TIME_SCALE" 'BEGIN { printf "%d", n * k + 0.5 }'; }
# step_ms MS: the server's step delay, scaled (server.c caps it at 1000 ms;
# every use below still outlasts its checks at that cap for a scale up to 30).
step_ms() { tries "$1"; }
MAXT=$(scaled 30)

# start_server LOG DB [ARGS...]: sets SPID and PORT (fails the check on timeout).
start_server() {
	local log=$1 db=$2 i
	shift 2
	"$BIN" serve "$db" --port 0 --threads 1 "$@" 2>"$log" &
	SPID=$!
	PIDS+=("$SPID")
	PORT=
	for i in $(seq "$(tries 100)"); do
		PORT=$(sed -n 's/^lutdb serve: listening on http:\/\/[^ ]*:\([0-9]*\) .*/\1/p' "$log")
		[ -n "$PORT" ] && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	fail "server on $db did not start" "$(cat "$log")"
	return 1
}

# stop_server PID: SIGTERM, then the exit status within 15 s (scaled; else
# SIGKILL, 124).
stop_server() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq "$(tries 150)"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		STOP_RC=124
	else
		wait "$pid"
		STOP_RC=$?
	fi
}

# req OUT METHOD PATH [BODY] [CURL ARGS...]: prints the HTTP status.
req() {
	local out=$1 method=$2 path=$3 body=${4-}
	shift 3
	[ $# -gt 0 ] && shift
	if [ "$method" = GET ]; then
		curl -s --max-time "$MAXT" -o "$out" -w '%{http_code}' "$@" "http://127.0.0.1:$PORT$path"
	else
		curl -s --max-time "$MAXT" -o "$out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
			--data-binary "$body" "$@" "http://127.0.0.1:$PORT$path"
	fi
}

# expect_status DESC WANT OUT METHOD PATH [BODY] [CURL ARGS...]
expect_status() {
	local desc=$1 want=$2 got
	shift 2
	got=$(req "$@")
	if [ "$got" = "$want" ]; then
		return 0
	fi
	fail "$desc: HTTP $got, expected $want" "$(head -c 300 "$1")"
	return 1
}

# bad DESC STATUS TYPE BODY [PATH]: the bad-request catalogue.
bad() {
	local desc=$1 st=$2 type=$3 body=$4 path=${5:-/v1/completions}
	expect_status "$desc" "$st" "$T/bad.json" POST "$path" "$body" &&
		check "$desc: $st $type" CHECK err "$T/bad.json" "$type"
}

# ---- the fixture MoLE (no tokenizer: id prompts) ------------------------------
DB=$T/f16.lutdb
expect_ok "pack the f16 fixture" lutdb pack "$LUTDB_FIXTURES/mole_rep_f16/ckpt" "$DB" --quiet
VOCAB=257 CTX=32
start_server "$T/s1.log" "$DB" --parallel 4 || e2e_finish
expect_status "GET /health" 200 "$T/h.json" GET /health && check "/health says ok" test "$(CHECK get "$T/h.json" status)" = ok
expect_status "GET /v1/models" 200 "$T/m.json" GET /v1/models &&
	check "/v1/models lists the database's base name" test "$(CHECK get "$T/m.json" data.0.id)" = f16.lutdb

# Greedy completions equal `lutdb run` (ids), logprobs equal its logits' log-softmax.
prompts=("1,5,9" "1" "3,4,5,6,7,8,9,10,11,12" "200,17")
for i in "${!prompts[@]}"; do
	p=${prompts[$i]}
	run_ids=$(lutdb run "$DB" --prompt-ids "$p" -n 12 --quiet --dump-logits "$T/dump$i.bin" | tail -n 1)
	body="{\"model\":\"f16.lutdb\",\"prompt\":[$p],\"max_tokens\":12,\"temperature\":0,\"logprobs\":5,\"return_tokens\":true}"
	expect_status "completion #$i" 200 "$T/c$i.json" POST /v1/completions "$body" || continue
	got=$(CHECK get "$T/c$i.json" choices.0.tokens | tr -d '[] ')
	check "greedy completion #$i = lutdb run ($run_ids)" test "$got" = "$run_ids"
	n=$(tr ',' '\n' <<<"$p" | grep -c '')
	check "logprobs #$i = log-softmax of run --dump-logits" CHECK logprobs "$T/c$i.json" "$T/dump$i.bin" $VOCAB "$n"
	fin=$(CHECK get "$T/c$i.json" choices.0.finish_reason)
	last=${run_ids##*,}
	want=length
	[ "$last" = 2 ] && want=stop # the fixture's eos id
	check "finish_reason #$i is $want" test "$fin" = "$want"
	ng=$(tr ',' '\n' <<<"$run_ids" | grep -c '')
	check "usage #$i counts the prompt and the completion" test "$(CHECK get "$T/c$i.json" usage.total_tokens)" = $((n + ng))
	check "text is empty without a tokenizer #$i" test -z "$(CHECK get "$T/c$i.json" choices.0.text)"
done

# Streaming: the same ids in chunks, [DONE] last, usage only when asked.
body='{"prompt":[1,5,9],"max_tokens":12,"temperature":0,"return_tokens":true,"stream":true}'
expect_status "streamed completion" 200 "$T/s.sse" POST /v1/completions "$body" &&
	sum=$(CHECK sse "$T/s.sse") &&
	check "streamed ids = non-streamed ids" test "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["tokens"])' "$sum" | tr -d '[] ')" = \
		"$(CHECK get "$T/c0.json" choices.0.tokens | tr -d '[] ')" &&
	check "no usage chunk unless asked" test "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["usage"])' "$sum")" = None
body='{"prompt":[1,5,9],"max_tokens":4,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}'
expect_status "streamed completion with usage" 200 "$T/su.sse" POST /v1/completions "$body" &&
	check "include_usage: a usage chunk before [DONE]" test \
		"$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["usage"]["total_tokens"])' "$(CHECK sse "$T/su.sse")")" = 7
body='{"prompt":[1,5,9],"max_tokens":3,"temperature":0,"return_tokens":true,"echo":true}'
expect_status "echo" 200 "$T/e.json" POST /v1/completions "$body" &&
	check "echo: tokens hold the prompt's ids, then the generated" test \
		"$(CHECK get "$T/e.json" choices.0.tokens | tr -d '[] ')" = "1,5,9,$(cut -d, -f1-3 <<<"$(CHECK get "$T/c0.json" choices.0.tokens | tr -d '[] ')")"
third=$(CHECK get "$T/c0.json" choices.0.tokens.2)
body="{\"prompt\":[1,5,9],\"max_tokens\":12,\"temperature\":0,\"return_tokens\":true,\"stop\":[$third]}"
expect_status "stop id" 200 "$T/st.json" POST /v1/completions "$body" &&
	check "a stop id ends the completion after it, finish_reason stop" test \
		"$(CHECK get "$T/st.json" choices.0.tokens | tr -d '[] ')/$(CHECK get "$T/st.json" choices.0.finish_reason)" = \
		"$(cut -d, -f1-3 <<<"$(CHECK get "$T/c0.json" choices.0.tokens | tr -d '[] ')")/stop"
body='{"prompt":[1,5,9],"max_tokens":0,"temperature":0}'
expect_status "max_tokens 0" 200 "$T/z.json" POST /v1/completions "$body" &&
	check "max_tokens 0: nothing generated, finish length" test \
		"$(CHECK get "$T/z.json" usage.completion_tokens)/$(CHECK get "$T/z.json" choices.0.finish_reason)" = 0/length
# Sampling: same seed, same ids; the default temperature is 1.
body='{"prompt":[1,5,9],"max_tokens":10,"seed":42,"return_tokens":true,"top_p":0.9}'
req "$T/r1.json" POST /v1/completions "$body" >/dev/null
req "$T/r2.json" POST /v1/completions "$body" >/dev/null
check "a seed makes sampling repeatable" CHECK same "$T/r1.json" "$T/r2.json"
expect_status "GET /metrics" 200 "$T/metrics.txt" GET /metrics &&
	check "/metrics: requests, tokens, queue depth, batch size, step time" \
		grep -qE '^lutdb_step_seconds_total [0-9.]+$' "$T/metrics.txt" &&
	check "/metrics counts the generated tokens" awk '$1 == "lutdb_generated_tokens_total" && $2 > 40 {ok=1} END {exit !ok}' "$T/metrics.txt" &&
	check "/metrics has the queue depth and batch size" grep -q '^lutdb_queue_depth 0$' "$T/metrics.txt"

# The bad-request catalogue.
bad "malformed JSON" 400 invalid_request_error '{"prompt": [1,2'
bad "a body that is not an object" 400 invalid_request_error '[1,2,3]'
bad "prompt missing" 400 invalid_request_error '{"max_tokens": 3}'
bad "prompt of the wrong type" 400 invalid_request_error '{"prompt": 5}'
bad "max_tokens of the wrong type" 400 invalid_request_error '{"prompt": [1], "max_tokens": "3"}'
bad "temperature of the wrong type" 400 invalid_request_error '{"prompt": [1], "temperature": "hot"}'
bad "stream of the wrong type" 400 invalid_request_error '{"prompt": [1], "stream": "yes"}'
bad "temperature out of range" 400 invalid_request_error '{"prompt": [1], "temperature": 2.5}'
bad "top_p 0" 400 invalid_request_error '{"prompt": [1], "top_p": 0}'
bad "an unknown model" 404 invalid_request_error '{"model": "gpt-4", "prompt": [1]}'
check "an unknown model: code model_not_found" test "$(CHECK get "$T/bad.json" error.code)" = model_not_found
bad "a prompt longer than the context" 400 invalid_request_error "{\"prompt\": [$(seq -s, 1 40)]}"
check "a prompt longer than the context: code context_length_exceeded" test "$(CHECK get "$T/bad.json" error.code)" = context_length_exceeded
bad "max_tokens < 0" 400 invalid_request_error '{"prompt": [1], "max_tokens": -1}'
bad "max_tokens past the context" 400 invalid_request_error '{"prompt": [1,2,3], "max_tokens": 30}'
bad "an id >= vocab" 400 invalid_request_error '{"prompt": [1, 257]}'
bad "a negative id" 400 invalid_request_error '{"prompt": [1, -1]}'
bad "a stop id >= vocab" 400 invalid_request_error '{"prompt": [1], "stop": [300]}'
bad "five stop entries" 400 invalid_request_error '{"prompt": [1], "stop": [1,2,3,4,5]}'
bad "n = 2" 400 invalid_request_error '{"prompt": [1], "n": 2}'
bad "logprobs past 20" 400 invalid_request_error '{"prompt": [1], "logprobs": 21}'
bad "an empty prompt" 400 invalid_request_error '{"prompt": []}'
bad "two prompts" 400 invalid_request_error '{"prompt": ["a", "b"]}'
bad "a string prompt without a tokenizer" 400 invalid_request_error '{"prompt": "hello"}'
bad "a string stop without a tokenizer" 400 invalid_request_error '{"prompt": [1], "stop": "x"}'
bad "duplicate keys" 400 invalid_request_error '{"prompt": [1], "prompt": [2]}'
bad "chat completions" 400 invalid_request_error '{"messages": [{"role": "user", "content": "hi"}]}' /v1/chat/completions
check "chat completions: the message says why" grep -q "chat template" "$T/bad.json"
bad "an unknown URL" 404 invalid_request_error '{}' /v1/nothing
expect_status "GET on /v1/completions" 405 "$T/bad.json" GET /v1/completions &&
	check "GET on /v1/completions: an error object" CHECK err "$T/bad.json" invalid_request_error
head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' ' ' >"$T/big.json"
expect_status "a body over 1 MiB (Content-Length)" 413 "$T/bad.json" POST /v1/completions "@$T/big.json" &&
	check "413: an error object" CHECK err "$T/bad.json" invalid_request_error
expect_status "a chunked body over 1 MiB" 413 "$T/bad.json" POST /v1/completions "@$T/big.json" -H 'Transfer-Encoding: chunked' &&
	check "413 chunked: an error object" CHECK err "$T/bad.json" invalid_request_error
# Under the size cap but dense: "[]" repeated would cost jansson 45 times
# its size; the bounded loader refuses it before parsing.
"$PY" -c 'import sys; sys.stdout.write("{\"prompt\": [" + ",".join(["[]"] * 300000) + "]}")' >"$T/dense.json"
expect_status "a dense body under the size cap" 413 "$T/bad.json" POST /v1/completions "@$T/dense.json" &&
	check "a dense body: an error object" CHECK err "$T/bad.json" invalid_request_error
bad "a body nested 100 deep" 400 invalid_request_error "{\"prompt\": $(printf '[%.0s' $(seq 100))$(printf ']%.0s' $(seq 100))}"
expect_status "the server still answers after all that" 200 "$T/h.json" GET /health
check "one access-log line per request" test "$(grep -c "\"POST /v1/completions\"" "$T/s1.log")" -ge 30
stop_server "$SPID"
check "SIGTERM when idle: exit 0" test "$STOP_RC" = 0

# ---- 16 concurrent clients, each bit-identical to its solo run ----------------
# Random prompts, seeds, temperatures, lengths and join times, logprobs on.
"$PY" - "$T/conc" <<'PY'
import json, os, random, sys
random.seed(1234)
os.makedirs(sys.argv[1], exist_ok=True)
for i in range(16):
    n = random.randint(1, 12)
    body = {"prompt": [random.randrange(257) for _ in range(n)], "max_tokens": random.randint(1, 32 - n),
            "temperature": random.choice([0, 0.7, 1.0, 1.3]), "seed": random.randrange(1 << 40),
            "logprobs": random.randint(0, 5), "return_tokens": True, "echo": random.random() < 0.3}
    open(os.path.join(sys.argv[1], "b%d.json" % i), "w").write(json.dumps(body))
    open(os.path.join(sys.argv[1], "d%d" % i), "w").write("%.3f" % (random.random() * 0.05))
PY
start_server "$T/s2.log" "$DB" --parallel 1 || e2e_finish
for i in $(seq 0 15); do
	req "$T/conc/solo$i.json" POST /v1/completions "$(cat "$T/conc/b$i.json")" >"$T/conc/solo$i.st"
done
stop_server "$SPID"
LUTDB_SERVE_TEST_STEP_MS=$(step_ms 20) start_server "$T/s3.log" "$DB" --parallel 16 --threads 2 || e2e_finish
clients=()
for i in $(seq 0 15); do
	(sleep "$(cat "$T/conc/d$i")"; req "$T/conc/par$i.json" POST /v1/completions "$(cat "$T/conc/b$i.json")" >"$T/conc/par$i.st") &
	clients+=($!)
done
wait "${clients[@]}"
wait_ok=1
for i in $(seq 0 15); do
	[ "$(cat "$T/conc/solo$i.st")" = 200 ] && [ "$(cat "$T/conc/par$i.st" 2>/dev/null)" = 200 ] || wait_ok=0
done
check "16 concurrent clients all answered 200" test $wait_ok = 1
same=0
for i in $(seq 0 15); do
	CHECK same "$T/conc/solo$i.json" "$T/conc/par$i.json" 2>/dev/null && same=$((same + 1))
done
check "16 concurrent clients: each bit-identical to its solo run, logprobs included ($same of 16)" test $same = 16
req "$T/metrics.txt" GET /metrics >/dev/null
peak=$(awk '$1 == "lutdb_batch_size_max" {print $2}' "$T/metrics.txt")
check "the 16 clients were batched together (at most $peak at once)" test "${peak:-0}" -ge 4

# A client that disconnects is cancelled; a client that does not read stalls nobody.
long='{"prompt":[1],"max_tokens":31,"temperature":0,"stream":true}'
curl -s --max-time "$(scaled 0.3)" -o /dev/null -X POST --data-binary "$long" "http://127.0.0.1:$PORT/v1/completions"
"$PY" - "$PORT" "$long" "$(scaled 4)" <<'PY' &
# A slow reader: sends the request and reads nothing for 4 s (scaled; twice
# the bound below, so a request it stalls fails it).
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b = sys.argv[2].encode()
s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b))
time.sleep(float(sys.argv[3]))
s.close()
PY
slow=$!
sleep "$(scaled 0.2)"
t0=$(date +%s.%N)
expect_status "a request next to a slow reader" 200 "$T/n.json" POST /v1/completions '{"prompt":[1,2],"max_tokens":5,"temperature":0}'
t1=$(date +%s.%N)
check "it is not stalled by the slow reader (took $(echo "$t1 - $t0" | bc) s, at most $(scaled 2))" \
	test "$(echo "$t1 - $t0 < $(scaled 2)" | bc)" = 1
for i in $(seq "$(tries 50)"); do
	grep -q '" 499 ' "$T/s3.log" && break
	sleep 0.1
done
check "the disconnected client's sequence was cancelled (499 in the log)" grep -q '"POST /v1/completions" 499 ' "$T/s3.log"
n=$(sed -n 's/.*"POST \/v1\/completions" 499 prompt=1 completion=\([0-9]*\) .*/\1/p' "$T/s3.log" | head -n 1)
check "the disconnected client's sequence stopped early ($n of 31 ids)" test "${n:-31}" -lt 31
# The slow reader's own end does not matter past here (scaled, its sleep is
# long), and its close comes only now, after the 499 checks above.
kill "$slow" 2>/dev/null
wait "$slow" 2>/dev/null
stop_server "$SPID"
check "SIGTERM: exit 0" test "$STOP_RC" = 0

# A full queue: 429 with Retry-After; SIGTERM lets a running sequence finish.
LUTDB_SERVE_TEST_STEP_MS=$(step_ms 100) start_server "$T/s4.log" "$DB" --parallel 1 --queue 0 \
	--shutdown-timeout "$(scaled 5)" || e2e_finish
req "$T/long.json" POST /v1/completions '{"prompt":[1],"max_tokens":20,"temperature":0,"return_tokens":true}' >"$T/long.st" &
lp=$!
for i in $(seq "$(tries 50)"); do
	req "$T/metrics.txt" GET /metrics >/dev/null
	grep -q '^lutdb_batch_size 1$' "$T/metrics.txt" && break
	sleep 0.05
done
check "one sequence is running" grep -q '^lutdb_batch_size 1$' "$T/metrics.txt"
st=$(curl -s --max-time "$(scaled 10)" -D "$T/hdr" -o "$T/bad.json" -w '%{http_code}' --data-binary '{"prompt":[1],"max_tokens":1}' \
	"http://127.0.0.1:$PORT/v1/completions")
check "a full queue: 429" test "$st" = 429
check "a full queue: Retry-After" grep -qi '^Retry-After: ' "$T/hdr"
check "a full queue: an error object" CHECK err "$T/bad.json" rate_limit_error
kill -TERM "$SPID"
sleep "$(scaled 0.3)"
check "after SIGTERM no new connection is accepted" test "$(curl -s --max-time "$(scaled 5)" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 000
wait "$lp"
check "after SIGTERM the running sequence finished (20 ids)" test "$(cat "$T/long.st"):$(CHECK get "$T/long.json" usage.completion_tokens)" = 200:20
stop_server "$SPID"
check "SIGTERM with a sequence running: exit 0" test "$STOP_RC" = 0

# The deadline: a sequence still running after --shutdown-timeout is cut, exit 0.
LUTDB_SERVE_TEST_STEP_MS=$(step_ms 200) start_server "$T/s5.log" "$DB" --parallel 1 \
	--shutdown-timeout "$(scaled 0.5)" || e2e_finish
req "$T/cut.json" POST /v1/completions '{"prompt":[1],"max_tokens":30,"temperature":0}' >"$T/cut.st" &
lp=$!
sleep "$(scaled 0.5)"
t0=$(date +%s.%N)
stop_server "$SPID"
t1=$(date +%s.%N)
wait "$lp"
check "past --shutdown-timeout: exit 0 (in $(echo "$t1 - $t0" | bc) s)" test "$STOP_RC" = 0
check "past --shutdown-timeout: the running request got 503" test "$(cat "$T/cut.st")" = 503

# The step delay at its 1 s cap (the value scaled runs under qemu reach):
# four ids take at least three whole delays.  A delay of 1 s once became an
# invalid timespec and no delay at all.
LUTDB_SERVE_TEST_STEP_MS=1000 start_server "$T/s7.log" "$DB" --parallel 1 || e2e_finish
t0=$(date +%s.%N)
req "$T/slow.json" POST /v1/completions '{"prompt":[1],"max_tokens":4,"temperature":0}' >"$T/slow.st"
t1=$(date +%s.%N)
check "a step delay of 1 s holds (4 ids in $(echo "$t1 - $t0" | bc) s, at least 3)" \
	test "$(cat "$T/slow.st"):$(echo "$t1 - $t0 >= 3" | bc)" = 200:1
stop_server "$SPID"

# The API key.
start_server "$T/s6.log" "$DB" --api-key sekrit || e2e_finish
bad "no API key" 401 invalid_request_error '{"prompt":[1]}'
expect_status "a wrong API key" 401 "$T/bad.json" POST /v1/completions '{"prompt":[1]}' -H 'Authorization: Bearer nope'
expect_status "the right API key" 200 "$T/ok.json" POST /v1/completions '{"prompt":[1],"max_tokens":2}' -H 'Authorization: Bearer sekrit' &&
	pass "the right API key: 200"
expect_status "/health needs no key" 200 "$T/h.json" GET /health && pass "/health needs no key"
stop_server "$SPID"

# ---- the demo MoLE with its tokenizer: text ---------------------------------
MDB=$T/mole.lutdb
demo_mole "pack the demo MoLE with its tokenizer" "$MDB"
start_server "$T/s7.log" "$MDB" --parallel 4 || e2e_finish
for p in "A programmer" "Once upon a time" "Q: Why?"; do
	run_text=$(lutdb run "$MDB" --prompt "$p" -n 24 --quiet; echo .)
	run_ids=$(lutdb run "$MDB" --prompt-ids "$(lutdb tokenize "$MDB" "$p")" -n 24 --quiet | tail -n 1)
	body=$("$PY" -c 'import json,sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": 24, "temperature": 0, "return_tokens": True}))' "$p")
	expect_status "text completion '$p'" 200 "$T/t.json" POST /v1/completions "$body" || continue
	check "text = lutdb run --prompt '$p'" test "$(CHECK get "$T/t.json" choices.0.text; echo .)" = "$run_text"
	check "ids = lutdb run --prompt-ids '$p'" test "$(CHECK get "$T/t.json" choices.0.tokens | tr -d '[] ')" = "$run_ids"
	b2=$("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); d["stream"]=True; print(json.dumps(d))' "$body")
	req "$T/t.sse" POST /v1/completions "$b2" >/dev/null
	check "streamed text = text '$p'" test "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["text"])' "$(CHECK sse "$T/t.sse")"; echo .)" = \
		"$(CHECK get "$T/t.json" choices.0.text; echo .)"
done
# A stop string in the middle of the greedy text: the text before it, finish stop.
full=$(CHECK get "$T/t.json" choices.0.text)
stop=${full:6:3}
body=$("$PY" -c 'import json,sys; print(json.dumps({"prompt": "Q: Why?", "max_tokens": 24, "temperature": 0, "stop": [sys.argv[1]], "stream": True}))' "$stop")
req "$T/ss.sse" POST /v1/completions "$body" >/dev/null
sum=$(CHECK sse "$T/ss.sse")
want=${full%%"$stop"*}
check "a stop string ('$stop'): streamed text ends before it" test "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["text"])' "$sum"; echo .)" = "$want"$'\n.'
check "a stop string: finish_reason stop" test "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["finish"])' "$sum")" = stop
# The streamed chunks are written by hand (gen.c): each event is the compact
# JSON of its own parse, keys in the order the OpenAI shape has them.
body='{"prompt":"Q: \"quoted\"\n\ttab \u00e9 \u0001","max_tokens":12,"temperature":0.9,"seed":3,"echo":true,"return_tokens":true,"stream":true,"stream_options":{"include_usage":true}}'
req "$T/raw.sse" POST /v1/completions "$body" >/dev/null
check "streamed events are compact JSON, keys in order" "$PY" - "$T/raw.sse" <<'PY'
import json, re, sys
evs = [e[6:] for e in open(sys.argv[1], encoding="utf-8").read().split("\n\n") if e.startswith("data: ")]
low = lambda t: re.sub(r"\\u[0-9A-Fa-f]{4}", lambda m: m.group(0).lower(), t)
assert evs[-1] == "[DONE]" and len(evs) >= 4, evs
for e in evs[:-1]:
	v = json.loads(e)
	assert low(json.dumps(v, separators=(",", ":"), ensure_ascii=False)) == low(e), e
	assert list(v)[:5] == ["id", "object", "created", "model", "choices"], e
	for c in v["choices"]:
		assert list(c) == ["text", "index", "logprobs", "finish_reason", "tokens"], e
assert "usage" in json.loads(evs[-2]) and json.loads(evs[-3])["choices"][0]["finish_reason"] in ("length", "stop")
PY
body='{"prompt":"A programmer","max_tokens":4,"temperature":0,"logprobs":3,"echo":true}'
expect_status "echo with logprobs" 200 "$T/el.json" POST /v1/completions "$body" &&
	check "echo: the text starts with the prompt" grep -q '"text":"A programmer' "$T/el.json" &&
	check "echo with logprobs: the first prompt token has a null logprob" test "$(CHECK get "$T/el.json" choices.0.logprobs.token_logprobs.0)" = null
expect_status "POST /tokenize" 200 "$T/tk.json" POST /tokenize '{"content":"A programmer"}' &&
	check "/tokenize = lutdb tokenize" test "$(CHECK get "$T/tk.json" tokens | tr -d '[] ')" = "$(lutdb tokenize "$MDB" 'A programmer')"
expect_status "POST /detokenize" 200 "$T/dt.json" POST /detokenize '{"tokens":[65,1919]}' &&
	check "/detokenize = lutdb detokenize" test "$(CHECK get "$T/dt.json" content)" = "$(lutdb detokenize "$MDB" 65,1919)"
bad "/detokenize: an id >= vocab" 400 invalid_request_error '{"tokens":[1,99999]}' /detokenize
bad "/tokenize: no content" 400 invalid_request_error '{"text":"x"}' /tokenize

# The official openai npm client, from the lock file.
NODE_DIR=$LUTDB_BUILD/node-serve
if [ ! -d "$NODE_DIR/node_modules/openai" ] || ! cmp -s "$HERE/package-lock.json" "$NODE_DIR/package-lock.json"; then
	rm -rf "$NODE_DIR"
	mkdir -p "$NODE_DIR"
	cp "$HERE/package.json" "$HERE/package-lock.json" "$NODE_DIR/"
	(cd "$NODE_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) >"$T/npm.log" 2>&1 ||
		fail "npm ci of the openai client" "$(tail -5 "$T/npm.log")"
fi
want=$(lutdb run "$MDB" --prompt "A programmer" -n 16 --quiet)
if out=$(LUTDB_SERVE_NODE_DIR=$NODE_DIR timeout "$(scaled 60)" node "$HERE/openai_client.js" "http://127.0.0.1:$PORT/v1" mole.lutdb \
	"A programmer" 16 2>"$T/node.err"); then
	get() { "$PY" -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print(v if isinstance(v, str) else json.dumps(v))' "$out" "$1"; }
	check "openai client: completion text = lutdb run" test "$(get text)" = "$want"
	check "openai client: streamed text = lutdb run" test "$(get stream_text)" = "$want"
	check "openai client: finish_reason" test -n "$(get finish)" -a "$(get finish)" = "$(get stream_finish)"
	check "openai client: a 400 is its BadRequestError ($(get error_class), $(get error_type))" \
		test "$(get error_status)/$(get bad_request)/$(get error_type)" = "400/true/invalid_request_error"
else
	fail "openai client ran" "$(tail -5 "$T/node.err")"
fi
stop_server "$SPID"
check "SIGTERM: exit 0" test "$STOP_RC" = 0
e2e_finish
