#!/usr/bin/env node
// train_bpe.js TEXT_FILE OUT_JSON [VOCAB_SIZE] - trains a byte-level BPE
// tokenizer (GPT-2 style: ByteLevel pre-tokenizer / decoder, one special
// token <|endoftext|>) with the Hugging Face trainer and writes tokenizer.json.
//
// The trainer is the Rust one of the `tokenizers` npm package (Node binding
// of the HF crate).  That binding only exposes the model's default trainer
// (BpeTrainer::default(): vocab up to 30000, no special tokens, alphabet =
// chars seen), so this script trains with it and then keeps the first merges:
// BPE training is greedy, so the first k merges are exactly what a trainer
// with a smaller vocab_size learns.  The vocab is the full 256-char byte-level
// alphabet (ids 0..255 in byte order, as ByteLevel.alphabet() as
// initial_alphabet gives), then the merge results in merge order, then
// <|endoftext|>.
//
// npm packages come from LUTDB_NODE_DIR (default build/node), as for
// make_fixtures.js (tests/tokenizer/run.sh installs them).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { createRequire } = require('module');
const { bytesToUnicode } = require('./byte_level.js');

const [input, output, sizeArg] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: train_bpe.js TEXT_FILE OUT_JSON [VOCAB_SIZE=4096]');
  process.exit(2);
}
const vocabSize = parseInt(sizeArg || '4096', 10);
if (!(vocabSize >= 257 && vocabSize <= 30000)) {
  console.error('VOCAB_SIZE must be in [257, 30000]');
  process.exit(2);
}
const NODE_DIR = process.env.LUTDB_NODE_DIR || path.resolve(__dirname, '../../build/node');
const req = createRequire(path.join(NODE_DIR, 'package.json'));
const { Tokenizer } = req('tokenizers');


const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
const base = (vocab, merges, added) => ({
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: added,
  normalizer: null,
  pre_tokenizer: byteLevel,
  post_processor: { ...byteLevel, trim_offsets: false },
  decoder: byteLevel,
  model: {
    type: 'BPE',
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab,
    merges,
  },
});

async function main() {
  const tok = Tokenizer.fromString(JSON.stringify(base({}, [], [])));
  tok.train([path.resolve(input)]);
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'train-bpe-')), 'trained.json');
  tok.save(tmp, false);
  const trained = JSON.parse(fs.readFileSync(tmp, 'utf8'));
  fs.rmSync(path.dirname(tmp), { recursive: true, force: true });
  const merges = trained.model.merges.map((m) => (Array.isArray(m) ? m : m.split(' ')));

  const vocab = {};
  let next = 0;
  for (const c of bytesToUnicode()) vocab[c] = next++;
  const kept = [];
  for (const [a, b] of merges) {
    if (next >= vocabSize - 1) break;
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${a} ${b}: parts not in vocab`);
    kept.push([a, b]);
    if (!((a + b) in vocab)) vocab[a + b] = next++;
  }
  const eot = next++;
  vocab['<|endoftext|>'] = eot;
  const json = base(vocab, kept, [
    { id: eot, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  ]);
  const text = JSON.stringify(json);
  // sanity: the result loads and round-trips the training text
  const check = Tokenizer.fromString(text);
  const sample = fs.readFileSync(input, 'utf8').slice(0, 20000);
  const ids = (await check.encode(sample)).getIds();
  if ((await check.decode(ids, false)) !== sample) throw new Error('trained tokenizer does not round-trip');
  fs.writeFileSync(output, text);
  console.error(
    `train_bpe: ${Object.keys(vocab).length} tokens (${kept.length} merges of ${merges.length} trained), ` +
      `${(sample.length / ids.length).toFixed(2)} chars/token on the first 20 kB`,
  );
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
