// The npm package's own tokenizer as the reference for userec's tfjs mode (tests/test_tokenizer.py).
//
// usage: node tokenize.js VOCAB_JSON RECORDS OUT [--exact]
// RECORDS holds texts as raw bytes, each preceded by its length (uint32 little-endian). Each text is decoded
// the way a JavaScript user gets a string from bytes, new TextDecoder('utf-8') (every invalid sequence becomes
// U+FFFD; ignoreBOM so that a text's leading U+FEFF stays a character, as in readFileSync(path, 'utf8')),
// then encoded with `new Tokenizer(JSON.parse(vocab.json)).encode(text)` from dist/tokenizer/index.js.
// Writes OUT: one line per text, its ids separated by spaces.
//
// Speed: Tokenizer.encode calls commonPrefixSearch(symbols.slice(i)) at every position, which copies the
// rest of the text each time (quadratic: hours for the test corpus, days for a 1 MB text).
// commonPrefixSearch only reads ss[0 .. depth] where depth is the longest vocabulary piece, so unless
// --exact is given, the symbol arrays get a `slice(i)` that stops after (longest piece + 2) symbols. The
// tokenizer code itself is untouched; tests/test_tokenizer.py checks that both ways agree on a sample.
'use strict';
const fs = require('fs');
const util = require('@tensorflow-models/universal-sentence-encoder/dist/util');
const {Tokenizer} = require('@tensorflow-models/universal-sentence-encoder/dist/tokenizer');

const [vocabPath, recordsPath, outPath, flag] = process.argv.slice(2);
if (!outPath || (flag !== undefined && flag !== '--exact')) {
  process.stderr.write('usage: node tokenize.js VOCAB_JSON RECORDS OUT [--exact]\n');
  process.exit(2);
}
const vocabulary = JSON.parse(fs.readFileSync(vocabPath, 'utf8'));

if (flag !== '--exact') {
  const window = Math.max(...vocabulary.map(([piece]) => piece.length)) + 2;
  const stringToChars = util.stringToChars;
  const windowedSlice = function(start, end) {
    return Array.prototype.slice.call(this, start, end === undefined ? start + window : end);
  };
  util.stringToChars = (input) => {
    const symbols = stringToChars(input);
    symbols.slice = windowedSlice;
    return symbols;
  };
}

const tokenizer = new Tokenizer(vocabulary);
const decoder = new TextDecoder('utf-8', {ignoreBOM: true});
const records = fs.readFileSync(recordsPath);
const lines = [];
for (let pos = 0; pos < records.length;) {
  const len = records.readUInt32LE(pos);
  const text = decoder.decode(records.subarray(pos + 4, pos + 4 + len));
  pos += 4 + len;
  lines.push(tokenizer.encode(text).join(' ') + '\n');
}
fs.writeFileSync(outPath, lines.join(''));
