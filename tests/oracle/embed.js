#!/usr/bin/env node
// The reference: runs the real USE-lite TF.js graph (tfjs-converter + CPU backend, tests/oracle/package.json)
// on token-id sentences and writes the embeddings.
//
// Usage: node tests/oracle/embed.js MODEL_DIR IDS_FILE OUT_FILE [--batch N]
//   MODEL_DIR  a tfjs graph-model folder (model.json + the shards its weightsManifest names)
//   IDS_FILE   one sentence per line, space-separated token ids; an empty line is an empty sentence
//              (the format of `userec embed --format ids`)
//   OUT_FILE   raw little-endian float32 [n_sentences, 512], one row per input line
// Timing goes to stderr.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const {loadGraphModel} = require('@tensorflow/tfjs-converter');
const modelFiles = require('./model_files');

const EMBEDDING_TABLE = 'module/Embeddings_en';
const OUTPUT_WIDTH = 512;
const MAX_LEN = 128; // the graph keeps the first 128 tokens of a sentence (SPEC 1)

function die(msg) {
  process.stderr.write(`embed.js: ${msg}\n`);
  process.exit(1);
}

function readFile(file, encoding) {
  return modelFiles.readFile(file, encoding, die);
}

function parseArgs(argv) {
  const positional = [];
  let batch = 32;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--batch') {
      batch = Number(argv[++i]);
      if (!Number.isInteger(batch) || batch < 1) die(`--batch wants a positive integer, got ${argv[i]}`);
    } else {
      positional.push(argv[i]);
    }
  }
  if (positional.length !== 3) die('usage: node embed.js MODEL_DIR IDS_FILE OUT_FILE [--batch N]');
  const [modelDir, idsFile, outFile] = positional;
  return {modelDir, idsFile, outFile, batch};
}

// The whole graph model in memory, as loadGraphModel's IOHandler wants it.
function readModel(modelDir) {
  const artifacts = modelFiles.readModelArtifacts(modelDir, die);
  const table = artifacts.weightSpecs.find((w) => w.name === EMBEDDING_TABLE);
  if (!table) die(`${path.join(modelDir, 'model.json')}: no ${EMBEDDING_TABLE} in the weights manifest`);
  return {artifacts, vocabRows: table.shape[0]};
}

// One array of ids per line; every line ends with '\n' except possibly the last.
function readSentences(idsFile, vocabRows) {
  const text = readFile(idsFile, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line, i) => {
    const fields = line.trim() === '' ? [] : line.trim().split(/\s+/);
    return fields.map((field) => {
      const id = Number(field);
      if (!/^\d+$/.test(field) || id >= vocabRows) {
        die(`${idsFile}:${i + 1}: "${field}" is not a token id in 0..${vocabRows - 1}`);
      }
      return id;
    });
  });
}

// The graph sizes its output by the last sentence that has a token, so it drops trailing empty
// sentences; a non-empty dummy sentence appended after them keeps their rows (all-padding rows, as for
// an empty sentence mid-batch), and its own row is dropped. Sentences do not influence each other (SPEC 1).
const DUMMY_SENTENCE = [0];

async function embedBatch(model, sentences) {
  const needsDummy = sentences[sentences.length - 1].length === 0;
  const fed = needsDummy ? sentences.concat([DUMMY_SENTENCE]) : sentences;
  const indices = [];
  const values = [];
  fed.forEach((ids, s) => ids.forEach((id, p) => {
    indices.push([s, p]);
    values.push(id);
  }));
  const inputs = {
    indices: tf.tensor2d(indices, [indices.length, 2], 'int32'),
    values: tf.tensor1d(values, 'int32'),
  };
  const output = await model.executeAsync(inputs);
  if (output.shape.length !== 2 || output.shape[0] !== fed.length || output.shape[1] !== OUTPUT_WIDTH) {
    die(`the graph returned shape [${output.shape}] for a batch of ${fed.length} sentences`);
  }
  const rows = output.dataSync().slice(0, sentences.length * OUTPUT_WIDTH);
  tf.dispose([inputs.indices, inputs.values, output]);
  return rows;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  // Float32Array is host-endian; OUT_FILE is little-endian.
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) die('big-endian hosts are not supported');
  await tf.setBackend('cpu');
  let started = process.hrtime.bigint();
  const seconds = () => {
    const now = process.hrtime.bigint();
    const s = Number(now - started) / 1e9;
    started = now;
    return s.toFixed(2);
  };
  const {artifacts, vocabRows} = readModel(args.modelDir);
  const model = await loadGraphModel({load: async () => artifacts});
  const inputNames = model.inputs.map((t) => t.name).sort().join(' ');
  if (inputNames !== 'indices values') die(`${args.modelDir}: graph inputs are "${inputNames}", expected "indices values"`);
  process.stderr.write(`embed.js: loaded ${args.modelDir} in ${seconds()} s\n`);

  const sentences = readSentences(args.idsFile, vocabRows);
  // The graph pads a batch to its longest sentence and the CPU backend is slow, so batches are cut from
  // the sentences in order of decreasing length; each row is written back to its input line.
  const order = sentences.map((ids, i) => i);
  order.sort((a, b) => Math.min(sentences[b].length, MAX_LEN) - Math.min(sentences[a].length, MAX_LEN) || a - b);
  const out = new Float32Array(sentences.length * OUTPUT_WIDTH);
  for (let start = 0; start < order.length; start += args.batch) {
    const batch = order.slice(start, start + args.batch);
    const rows = await embedBatch(model, batch.map((i) => sentences[i]));
    batch.forEach((line, row) => out.set(rows.subarray(row * OUTPUT_WIDTH, (row + 1) * OUTPUT_WIDTH), line * OUTPUT_WIDTH));
  }
  const tokens = sentences.reduce((n, ids) => n + ids.length, 0);
  process.stderr.write(`embed.js: ${sentences.length} sentences, ${tokens} tokens, batch ${args.batch}: ${seconds()} s\n`);

  try {
    fs.writeFileSync(args.outFile, Buffer.from(out.buffer));
  } catch (e) {
    die(`cannot write ${args.outFile}: ${e.message}`);
  }
}

main().catch((e) => die(e.stack || String(e)));
