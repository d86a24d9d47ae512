#!/usr/bin/env node
// The TF.js peer of `userec bench` on the CPU (issue 7): the real USE-lite graph (tfjs-converter) on the
// `cpu` backend (plain JS kernels) or the `wasm` backend (XNNPACK; its SIMD build, one thread: its threaded
// build cannot start in Node, whose Worker refuses the blob: URL the backend hands it).
//
// Usage: node bench/peers/tfjs_peer.js --model-dir DIR --ids FILE --expect FILE.npy --backend cpu|wasm
//                                      [--sentences N] [--repeat R] [--label NAME]
//   DIR        a tfjs graph-model folder (model.json + shards), the same weights as userec's .usew
//   FILE       token-id lines (`userec embed --format ids` input); the first N sentences are used
//   FILE.npy   userec's float32 [rows, 512] embeddings of FILE (`userec embed --format ids -o`)
// All N sentences go to the graph in one call, as `userec bench` encodes a workload in one call. The first
// call is the warm-up and the check: every sentence's cosine against userec's row must be >= 0.9999, or
// nothing is timed. Then R timed calls, each from id arrays in memory to the vectors in a Float32Array.
// Prints one JSON line on stdout.
'use strict';
const path = require('path');
const modelFiles = require('../../tests/oracle/model_files');

const MODULES = path.join(__dirname, 'tfjs', 'node_modules');
function load(name) {
  try {
    return require(path.join(MODULES, name));
  } catch (e) {
    die(`cannot load ${name} (run \`npm ci\` in ${path.dirname(MODULES)}): ${e.message}`);
  }
}

const MIN_COSINE = 0.9999;
const OUTPUT_WIDTH = 512;
const MAX_LEN = 128; // the graph keeps the first 128 tokens of a sentence (SPEC 1)

function die(msg) {
  process.stderr.write(`tfjs_peer.js: ${msg}\n`);
  process.exit(1);
}

function readFile(file, encoding) {
  return modelFiles.readFile(file, encoding, die);
}

function parseArgs(argv) {
  const args = {sentences: Infinity, repeat: 3};
  const names = {'--model-dir': 'modelDir', '--ids': 'ids', '--expect': 'expect', '--backend': 'backend',
    '--sentences': 'sentences', '--repeat': 'repeat', '--label': 'label'};
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || i + 1 >= argv.length) die(`unknown option or missing value: ${argv[i]}`);
    args[key] = argv[i + 1];
  }
  for (const key of ['modelDir', 'ids', 'expect', 'backend']) if (!args[key]) die(`--${key.replace('Dir', '-dir')} is required`);
  if (!['cpu', 'wasm'].includes(args.backend)) die(`--backend wants cpu or wasm, got ${args.backend}`);
  for (const key of ['sentences', 'repeat']) {
    args[key] = Number(args[key]);
    if (!(args[key] >= 1) || !(Number.isInteger(args[key]) || args[key] === Infinity)) die(`--${key} wants a positive integer`);
  }
  args.label = args.label || path.basename(args.ids);
  return args;
}

// The graph model in memory, as loadGraphModel's IOHandler wants it.
function readModel(modelDir) {
  return modelFiles.readModelArtifacts(modelDir, die);
}

// The first `limit` lines of an ids file, as arrays of ids.
function readSentences(file, limit) {
  const lines = readFile(file, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.slice(0, limit).map((line, i) => {
    // The graph sizes its output by the last sentence with a token (tests/oracle/embed.js works around it).
    if (line.trim() === '') die(`${file}:${i + 1}: an empty sentence; this peer times non-empty ones only`);
    return line.trim().split(/\s+/).map((field) => {
      if (!/^\d+$/.test(field)) die(`${file}:${i + 1}: "${field}" is not a token id`);
      return Number(field);
    });
  });
}

// A little-endian float32 C-order 2-D .npy file as {rows, cols, data}.
function readNpy(file) {
  const bytes = readFile(file);
  if (bytes.toString('latin1', 0, 6) !== '\x93NUMPY') die(`${file}: not a .npy file`);
  const major = bytes[6];
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = bytes.toString('latin1', start, start + headerLen);
  const shape = /'shape': \((\d+), (\d+)\)/.exec(header);
  if (!header.includes("'descr': '<f4'") || !header.includes("'fortran_order': False") || !shape) {
    die(`${file}: wants a float32 C-order 2-D array, header ${header.trim()}`);
  }
  const [rows, cols] = [Number(shape[1]), Number(shape[2])];
  const offset = start + headerLen;
  if (bytes.length !== offset + 4 * rows * cols) die(`${file}: ${bytes.length} bytes, expected ${offset + 4 * rows * cols}`);
  // A copy, as the rows need not be 4-byte aligned within the Buffer; main() checked the host is little-endian.
  return {rows, cols, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + bytes.length))};
}

// The graph's sparse input (indices [n, 2], values [n]) of a batch, built once outside the timed calls.
function sparseInput(sentences) {
  const clipped = sentences.map((ids) => ids.slice(0, MAX_LEN));
  const n = clipped.reduce((sum, ids) => sum + ids.length, 0);
  const indices = new Int32Array(2 * n);
  const values = new Int32Array(n);
  let k = 0;
  clipped.forEach((ids, s) => ids.forEach((id, p) => {
    indices[2 * k] = s, indices[2 * k + 1] = p, values[k++] = id;
  }));
  return {indices, values, tokens: n};
}

// One graph call: typed arrays in, [sentences x 512] vectors out in host memory.
async function embed(tf, model, input, nSentences) {
  const feeds = {
    indices: tf.tensor2d(input.indices, [input.tokens, 2], 'int32'),
    values: tf.tensor1d(input.values, 'int32'),
  };
  const output = await model.executeAsync(feeds);
  const shape = output.shape;
  const rows = await output.data();
  tf.dispose([feeds.indices, feeds.values, output]);
  if (shape.length !== 2 || shape[0] !== nSentences || shape[1] !== OUTPUT_WIDTH) {
    die(`the graph returned shape [${shape}] for ${nSentences} sentences`);
  }
  return rows;
}

// The lowest per-sentence cosine between our rows and userec's, and where.
function minCosine(ours, theirs, nSentences) {
  let worst = {cosine: Infinity, sentence: -1};
  for (let s = 0; s < nSentences; s++) {
    let dot = 0, a2 = 0, b2 = 0;
    for (let j = 0; j < OUTPUT_WIDTH; j++) {
      const a = ours[s * OUTPUT_WIDTH + j], b = theirs[s * OUTPUT_WIDTH + j];
      dot += a * b, a2 += a * a, b2 += b * b;
    }
    const cosine = dot / Math.sqrt(a2 * b2);
    if (!(cosine >= worst.cosine)) worst = {cosine, sentence: s};
  }
  return worst;
}

async function setBackend(tf, name) {
  if (name === 'wasm') {
    const wasm = load('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.join(MODULES, '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep);
  } else {
    load('@tensorflow/tfjs-backend-cpu');
  }
  if (!(await tf.setBackend(name))) die(`the ${name} backend did not start`);
  if (name !== 'wasm') return {threads: 1}; // plain JS on the main thread
  return {simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'), threads: load('@tensorflow/tfjs-backend-wasm').getThreadsCount()};
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) die('big-endian hosts are not supported');
  const tf = load('@tensorflow/tfjs-core');
  const backendInfo = await setBackend(tf, args.backend);
  const {loadGraphModel} = load('@tensorflow/tfjs-converter');
  const artifacts = readModel(args.modelDir);
  const model = await loadGraphModel({load: async () => artifacts});

  const sentences = readSentences(args.ids, args.sentences);
  const expected = readNpy(args.expect);
  if (expected.cols !== OUTPUT_WIDTH || expected.rows < sentences.length) {
    die(`${args.expect}: [${expected.rows}, ${expected.cols}] cannot hold ${sentences.length} rows of ${OUTPUT_WIDTH}`);
  }
  const input = sparseInput(sentences);

  const check = minCosine(await embed(tf, model, input, sentences.length), expected.data, sentences.length);
  const result = {peer: `tfjs-${args.backend}`, tfjs: tf.version_core, ...backendInfo, workload: args.label,
    sentences: sentences.length, tokens: input.tokens, min_cosine: check.cosine};
  if (!(check.cosine >= MIN_COSINE)) {
    console.log(JSON.stringify({...result, ok: false}));
    die(`sentence ${check.sentence}: cosine ${check.cosine} against userec's row, need >= ${MIN_COSINE}: no timing`);
  }
  const secs = [];
  for (let r = 0; r < args.repeat; r++) {
    const start = process.hrtime.bigint();
    await embed(tf, model, input, sentences.length);
    secs.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
  const s = median(secs);
  console.log(JSON.stringify({...result, ok: true, seconds_median: s, seconds_min: Math.min(...secs),
    seconds_max: Math.max(...secs), sentences_per_s: sentences.length / s, tokens_per_s: input.tokens / s}));
}

main().catch((e) => die(e.stack || String(e)));
