// serve_load.js PORT CLIENTS PROMPT_LEN MAX_TOKENS VOCAB - the load client of
// bench_7_serve.sh: CLIENTS concurrent streaming completions (greedy, id
// prompts, return_tokens) against lutdb serve on 127.0.0.1:PORT, started
// together.  Prints key=value lines: tokens, seconds (first request to last
// token), tok_s (aggregate), ttft_p50_ms / ttft_p99_ms (request to its first
// id), itl_p50_ms / itl_p99_ms (between consecutive ids of one stream);
// decode_tokens, decode_seconds, decode_tok_s: the steady state, from the
// moment the last stream got its first id to the moment the first stream got
// its last one (every stream decoding, every prompt fed): the ids received in
// that window over its length, the figure comparable with the library's
// batch-B decode step; client_cpu_s: this process's own CPU time during the
// run (it shares the cores with the server).
// Bounded: each request has a 300 s timeout, and the process exits after
// 600 s whatever happens.  Node's own net module: nothing to install.
"use strict";
const net = require("net");

const [port, clients, promptLen, maxTokens, vocab] = process.argv.slice(2).map(Number);
setTimeout(() => { console.error("serve_load: timed out"); process.exit(1); }, 600000).unref();

function pct(a, p) {
	if (!a.length) return NaN;
	const s = [...a].sort((x, y) => x - y);
	return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

// One streaming completion over a plain socket (HTTP/1.1, chunked
// response): node's http module costs several times the CPU per event, and
// this process shares the cores with the server it measures.
function one(i) {
	return new Promise((resolve, reject) => {
		let seed = 12345 + i * 7919;
		const prompt = [];
		for (let k = 0; k < promptLen; k++) {
			seed = (seed * 1103515245 + 12345) % 2147483648;
			prompt.push(seed % vocab);
		}
		const body = JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, stream: true, return_tokens: true });
		const t0 = performance.now();
		const times = [];
		let raw = "", head = true, sse = "", done = false;
		const sock = net.connect({ host: "127.0.0.1", port }, () => {
			sock.write("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
				"Connection: close\r\nContent-Length: " + Buffer.byteLength(body) + "\r\n\r\n" + body);
		});
		sock.setTimeout(300000, () => sock.destroy(new Error("timeout")));
		sock.setNoDelay(true);
		sock.setEncoding("latin1"); // bytes as they are: the chunk sizes count bytes
		sock.on("data", (d) => {
			raw += d;
			if (head) {
				const at = raw.indexOf("\r\n\r\n");
				if (at < 0) return;
				const status = raw.slice(0, raw.indexOf("\r\n"));
				if (!/^HTTP\/1\.[01] 200 /.test(status)) return sock.destroy(new Error(status));
				if (!/\r\ntransfer-encoding: *chunked\r\n/i.test(raw.slice(0, at + 2))) return sock.destroy(new Error("not chunked"));
				raw = raw.slice(at + 4);
				head = false;
			}
			for (;;) { // whole chunks only: "SIZE\r\nDATA\r\n"
				const eol = raw.indexOf("\r\n");
				if (eol < 0) break;
				const n = parseInt(raw.slice(0, eol), 16);
				if (!(n >= 0)) return sock.destroy(new Error("bad chunk"));
				if (n === 0) { done = true; break; }
				if (raw.length < eol + 2 + n + 2) break;
				sse += raw.slice(eol + 2, eol + 2 + n);
				raw = raw.slice(eol + 2 + n + 2);
			}
			let at;
			while ((at = sse.indexOf("\n\n")) >= 0) {
				const ev = sse.slice(0, at);
				sse = sse.slice(at + 2);
				if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
				const c = JSON.parse(ev.slice(6)).choices[0];
				const now = performance.now();
				for (let k = 0; c && c.tokens && k < c.tokens.length; k++) times.push(now);
			}
		});
		sock.on("end", () => (done ? resolve({ t0, times }) : reject(new Error("the stream ended early"))));
		sock.on("error", reject);
	});
}

(async () => {
	const cpu0 = process.cpuUsage();
	const runs = await Promise.all(Array.from({ length: clients }, (_, i) => one(i)));
	const ttft = [], itl = [];
	let tokens = 0, start = Infinity, end = 0;
	for (const r of runs) {
		tokens += r.times.length;
		start = Math.min(start, r.t0);
		if (r.times.length) {
			ttft.push(r.times[0] - r.t0);
			end = Math.max(end, r.times[r.times.length - 1]);
		}
		for (let k = 1; k < r.times.length; k++) itl.push(r.times[k] - r.times[k - 1]);
	}
	const secs = (end - start) / 1000;
	const cpu = process.cpuUsage(cpu0);
	// The steady state: (t1, t2], every stream running.
	let t1 = 0, t2 = Infinity, dtok = 0;
	for (const r of runs) {
		if (!r.times.length) continue;
		t1 = Math.max(t1, r.times[0]);
		t2 = Math.min(t2, r.times[r.times.length - 1]);
	}
	for (const r of runs)
		for (const t of r.times)
			if (t > t1 && t <= t2) dtok++;
	const dsecs = t2 > t1 ? (t2 - t1) / 1000 : NaN;
	console.log(`tokens=${tokens}`);
	console.log(`seconds=${secs.toFixed(3)}`);
	console.log(`tok_s=${(tokens / secs).toFixed(2)}`);
	console.log(`ttft_p50_ms=${pct(ttft, 50).toFixed(2)}`);
	console.log(`ttft_p99_ms=${pct(ttft, 99).toFixed(2)}`);
	console.log(`itl_p50_ms=${pct(itl, 50).toFixed(2)}`);
	console.log(`itl_p99_ms=${pct(itl, 99).toFixed(2)}`);
	console.log(`decode_tokens=${dtok}`);
	console.log(`decode_seconds=${dsecs.toFixed(3)}`);
	console.log(`decode_tok_s=${(dtok / dsecs).toFixed(2)}`);
	console.log(`client_cpu_s=${((cpu.user + cpu.system) / 1e6).toFixed(3)}`);
})().catch((e) => { console.error("serve_load: " + e.message); process.exit(1); });
