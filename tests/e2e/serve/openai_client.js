// openai_client.js BASE_URL MODEL PROMPT MAX_TOKENS - the official `openai`
// npm client (installed from package-lock.json into build/node-serve) against
// lutdb serve: a greedy completion, the same streamed, and a 400.  Prints
// one JSON line: {"text", "stream_text", "finish", "stream_finish",
// "error_status", "error_type", "error_class"}.  Bounded: every request has a
// 20 s timeout and no retries.
const path = require("path");
const nodeDir = process.env.LUTDB_SERVE_NODE_DIR;
const { OpenAI } = require(path.join(nodeDir, "node_modules", "openai"));

async function main() {
	const [baseURL, model, prompt, maxTokens] = process.argv.slice(2);
	const client = new OpenAI({ baseURL, apiKey: "test-key", timeout: 20000, maxRetries: 0 });
	const out = {};
	const args = { model, prompt, max_tokens: Number(maxTokens), temperature: 0 };
	const r = await client.completions.create(args);
	out.text = r.choices[0].text;
	out.finish = r.choices[0].finish_reason;
	out.usage = r.usage;
	const stream = await client.completions.create({ ...args, stream: true });
	out.stream_text = "";
	for await (const chunk of stream) {
		if (chunk.choices.length) {
			out.stream_text += chunk.choices[0].text;
			out.stream_finish = chunk.choices[0].finish_reason;
		}
	}
	try {
		await client.completions.create({ ...args, n: 2 });
		out.error_status = 0;
	} catch (e) {
		out.error_class = e.constructor.name;
		out.error_status = e.status;
		out.error_type = e.type || (e.error && e.error.type);
		out.bad_request = e instanceof OpenAI.BadRequestError;
	}
	console.log(JSON.stringify(out));
}

main().catch((e) => {
	console.error("openai_client: " + (e && e.stack ? e.stack : e));
	process.exit(1);
});
