'use strict';
// The GPT-2 / Hugging Face ByteLevel alphabet: the printable character
// standing for each byte value.  Shared by the tokenizer fixture and
// training scripts and the demo's id decoder.

// bytesToUnicode()[b] is the one-character string for byte b (0..255).
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const m = new Array(256);
  bs.forEach((b, i) => (m[b] = String.fromCodePoint(cs[i])));
  return m;
}

module.exports = { bytesToUnicode };
