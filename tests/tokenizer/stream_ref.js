// stream_ref.js - the chunks Hugging Face's DecodeStream gives for a
// tokenizer and ids, as the reference for test_tokenizer_units'
// test_stream_strip_window.
//
// The `tokenizers` npm package exposes decode() but not DecodeStream, so the
// step below transcribes tokenizers' step_decode_stream (src/tokenizer/mod.rs)
// and runs it over the package's own decode: the decode is the reference's,
// the windowing is HF's algorithm.
//
//   node tests/tokenizer/stream_ref.js    (after make test has filled build/node)
'use strict';
const path = require('path');
const { createRequire } = require('module');

const NODE_DIR = process.env.LUTDB_NODE_DIR || path.resolve(__dirname, '../../build/node');
const req = createRequire(path.join(NODE_DIR, 'package.json'));

const tokenizerJson = {
  version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
  pre_tokenizer: null, post_processor: null,
  decoder: { type: 'Sequence', decoders: [{ type: 'Fuse' }, { type: 'Strip', content: ' ', start: 2, stop: 0 }] },
  model: {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, vocab: { a: 0, ' ': 1, "'": 2 }, merges: [],
  },
};
const ids = [1, 1, 1, 1, 2];

async function main() {
  const { Tokenizer } = req('tokenizers');
  const t = Tokenizer.fromString(JSON.stringify(tokenizerJson));
  const decode = (x) => t.decode(x, false);
  let window = [];
  let prefix = '';
  let prefixIndex = 0;
  const chunks = [];
  for (const id of ids) {
    if (prefix === '' && window.length) {
      const p = await decode(window);
      if (!p.endsWith('\uFFFD')) {
        prefix = p;
        prefixIndex = window.length;
      }
    }
    window.push(id);
    const s = await decode(window);
    if (Buffer.byteLength(s) > Buffer.byteLength(prefix) && !s.endsWith('\uFFFD')) {
      if (!s.startsWith(prefix)) throw new Error('DecodeStream: invalid prefix');
      const next = window.length - prefixIndex;
      chunks.push(s.slice(prefix.length));
      window = window.slice(prefixIndex);
      prefix = await decode(window);
      prefixIndex = next;
    } else {
      chunks.push('');
    }
  }
  console.log('batch ', JSON.stringify(await decode(ids)));
  console.log('chunks', JSON.stringify(chunks));
}
main().catch((e) => { console.error(e); process.exit(1); });
