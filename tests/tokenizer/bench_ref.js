#!/usr/bin/env node
// bench_ref.js TEXT_FILE [TOKENIZER_JSON] - single-thread encode throughput
// of the reference implementations on the same text as
// tests/tools/bench_tokenizer (fortune records): js-tiktoken (GPT-2 ranks)
// and, given a tokenizer.json, the HF `tokenizers` binding.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const { pathToFileURL } = require('url');

const NODE_DIR = process.env.LUTDB_NODE_DIR || path.resolve(__dirname, '../../build/node');
const req = createRequire(path.join(NODE_DIR, 'package.json'));
const importPkg = (name) => import(pathToFileURL(req.resolve(name)).href);

function bench(label, bytes, fn, secs = 3) {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  let total = 0;
  let el = 0;
  do {
    total += fn();
    el = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (el < secs);
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  console.log(`${label}: ${(total / el / 1e6).toFixed(2)} MB/s wall, ${(total / cpu / 1e6).toFixed(2)} MB/s of CPU time`);
}

async function main() {
  const [file, tokJson] = process.argv.slice(2);
  const text = fs.readFileSync(file, 'utf8');
  const recs = text.split(/^%\n/m).filter((r) => r.length);
  const recBytes = recs.map((r) => Buffer.byteLength(r));
  const jt = await importPkg('js-tiktoken');
  const g2 = new jt.Tiktoken((await importPkg('js-tiktoken/ranks/gpt2')).default);
  bench('js-tiktoken gpt2, records', 0, () => {
    let b = 0;
    recs.forEach((r, i) => {
      g2.encode(r, [], []);
      b += recBytes[i];
    });
    return b;
  });
  if (tokJson) {
    const { Tokenizer } = req('tokenizers');
    const t = Tokenizer.fromString(fs.readFileSync(tokJson, 'utf8'));
    const t0 = process.hrtime.bigint();
    let b = 0;
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < recs.length; i += 256) {
        const batch = recs.slice(i, i + 256);
        await t.encodeBatch(batch, { addSpecialTokens: false });
        for (let j = i; j < i + batch.length; j++) b += recBytes[j];
      }
    const el = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`HF tokenizers (Rust, encodeBatch of 256, may use several threads), records: ${(b / el / 1e6).toFixed(2)} MB/s`);
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
