#!/usr/bin/env node
// decode_ids.js TOKENIZER_JSON IDS - prints the text of comma-separated ids.
// Plain Node, no npm package: byte-level BPE decoding (GPT-2 style, the
// demo tokenizer's ByteLevel decoder) from the vocab of tokenizer.json.
// Special tokens (<|endoftext|>) are printed as they are.
'use strict';
const fs = require('fs');
const path = require('path');
const { bytesToUnicode } = require(path.join(__dirname, '../tokenizer/byte_level.js'));
const [tokPath, idsArg] = process.argv.slice(2);
if (!tokPath || idsArg === undefined) {
  console.error('usage: decode_ids.js TOKENIZER_JSON IDS');
  process.exit(2);
}
const tok = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
const inv = [];
for (const [s, i] of Object.entries(tok.model.vocab)) inv[i] = s;
const special = new Set();
for (const t of tok.added_tokens || []) { inv[t.id] = t.content; special.add(t.id); }
const byteOf = new Map();
bytesToUnicode().forEach((ch, b) => byteOf.set(ch, b));
const out = [];
for (const x of idsArg.split(/[\s,]+/).filter((s) => s.length)) {
  const id = parseInt(x, 10);
  const s = inv[id];
  if (s === undefined) { console.error(`decode_ids: id ${id} not in the vocab`); process.exit(1); }
  if (special.has(id)) { out.push(...Buffer.from(s, 'utf8')); continue; }
  for (const ch of s) out.push(byteOf.get(ch));
}
process.stdout.write(Buffer.from(out).toString('utf8') + '\n');
