#!/usr/bin/env node
// tokenize_ids.js TOKENIZER_JSON (--jsonl FILE | --text STRING) OUT_IDS
//
// Encodes text with the Hugging Face tokenizer (the Rust one, through the
// `tokenizers` npm binding: the same tokenization the C side implements) and
// writes one line of comma-separated ids ending in "\n" (the *.ids format of
// tests/ref and `lutdb eval --ids`).
//   --jsonl FILE   one JSON string per line (a document); each document is
//                  encoded on its own and documents are joined by the
//                  <|endoftext|> id, which also ends the last one.
//   --text STRING  one text, encoded as is (no end-of-text appended).
// npm packages come from LUTDB_NODE_DIR (default build/node; tests/tokenizer/run.sh
// or tests/demo/prepare_data.sh installs them).
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');

const [tokPath, mode, arg, out] = process.argv.slice(2);
if (!tokPath || !out || (mode !== '--jsonl' && mode !== '--text')) {
  console.error('usage: tokenize_ids.js TOKENIZER_JSON (--jsonl FILE | --text STRING) OUT_IDS');
  process.exit(2);
}
const NODE_DIR = process.env.LUTDB_NODE_DIR || path.resolve(__dirname, '../../build/node');
const { Tokenizer } = createRequire(path.join(NODE_DIR, 'package.json'))('tokenizers');

async function main() {
  const json = fs.readFileSync(tokPath, 'utf8');
  const tok = Tokenizer.fromString(json);
  const eot = JSON.parse(json).added_tokens.find((t) => t.content === '<|endoftext|>').id;
  let ids = [];
  if (mode === '--text') {
    ids = (await tok.encode(arg)).getIds();
  } else {
    const docs = fs.readFileSync(arg, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
    for (const d of docs) {
      for (const i of (await tok.encode(d)).getIds()) ids.push(i);
      ids.push(eot);
    }
    console.error(`tokenize_ids: ${docs.length} documents, ${ids.length} ids`);
  }
  fs.writeFileSync(out, ids.join(',') + '\n');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
