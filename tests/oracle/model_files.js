// Reads a TF.js graph-model folder into what loadGraphModel's in-memory IOHandler wants. No TF.js import, so
// scripts with their own pinned TF.js (tests/oracle, bench/peers/tfjs) share it.
'use strict';
const fs = require('fs');
const path = require('path');

// fs.readFileSync, but a failure calls fail(message) (which exits) instead of throwing.
function readFile(file, encoding, fail) {
  try {
    return fs.readFileSync(file, encoding);
  } catch (e) {
    fail(`cannot read ${file}: ${e.message}`);
  }
}

// {modelTopology, weightSpecs, weightData} of MODEL_DIR/model.json and the shards its manifest names.
function readModelArtifacts(modelDir, fail) {
  const jsonPath = path.join(modelDir, 'model.json');
  let json;
  try {
    json = JSON.parse(readFile(jsonPath, 'utf8', fail));
  } catch (e) {
    fail(`${jsonPath}: not JSON: ${e.message}`);
  }
  const weightSpecs = [];
  const shards = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) shards.push(readFile(path.join(modelDir, p), undefined, fail));
  }
  const all = Buffer.concat(shards);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return {modelTopology: json.modelTopology, weightSpecs, weightData};
}

module.exports = {readFile, readModelArtifacts};
