"""Runs the TF.js reference graph (tests/oracle/embed.js) from Python tests."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from common import BUILD, ROOT, Skip, run

ORACLE_DIR = os.path.join(ROOT, "tests", "oracle")
OUTPUT_WIDTH = 512


def _installed():
    """True when node_modules holds exactly the versions package.json pins."""
    with open(os.path.join(ORACLE_DIR, "package.json")) as f:
        pinned = json.load(f)["dependencies"]
    for name, version in pinned.items():
        try:
            with open(os.path.join(ORACLE_DIR, "node_modules", name, "package.json")) as f:
                if json.load(f)["version"] != version:
                    return False
        except OSError:
            return False
    return True


def ensure_oracle():
    """Installs the pinned TF.js packages with `npm ci` on first use; skips when node/npm or the registry fail."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} is not installed (the TF.js reference needs Node.js: sh tools/install-deps.sh)")
    if _installed():
        return
    try:
        proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ORACLE_DIR, capture_output=True,
                              text=True, errors="replace", timeout=600)
    except subprocess.TimeoutExpired:
        raise Skip(f"`npm ci` in {ORACLE_DIR} took over 10 minutes (npm registry unreachable?)")
    if proc.returncode != 0 or not _installed():
        raise Skip(f"`npm ci` in {ORACLE_DIR} failed (npm registry unreachable?):\n{proc.stderr[-1500:]}")


def _cache_key(model_dir, ids_text, batch):
    """Names one oracle result: the driver, the pinned packages, the model files and the input."""
    h = hashlib.sha256()
    for path in ("embed.js", "package-lock.json"):
        with open(os.path.join(ORACLE_DIR, path), "rb") as f:
            h.update(f.read())
    model_dir = os.path.abspath(model_dir)
    h.update(model_dir.encode())
    for name in sorted(os.listdir(model_dir)):
        st = os.stat(os.path.join(model_dir, name))
        h.update(f"{name} {st.st_size} {st.st_mtime_ns}\n".encode())
    h.update(f"batch {batch}\n{ids_text}".encode())
    return h.hexdigest()


def oracle_embed(model_dir, sequences, batch=32):
    """float32 [len(sequences), 512]: the real TF.js graph's embeddings of token-id sequences.

    The graph is slow (about 30 ms per token on the CPU backend), so results are kept in
    BUILD/oracle-cache, named by a hash of everything they depend on."""
    ids_text = "".join(" ".join(map(str, ids)) + "\n" for ids in sequences)
    cached = os.path.join(BUILD, "oracle-cache", _cache_key(model_dir, ids_text, batch) + ".f32")
    if not os.path.exists(cached):
        ensure_oracle()
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="userec-oracle-") as tmp:
            ids_file = os.path.join(tmp, "ids.txt")
            with open(ids_file, "w") as f:
                f.write(ids_text)
            proc = run(["node", os.path.join(ORACLE_DIR, "embed.js"), model_dir, ids_file, cached + ".part",
                        "--batch", str(batch)])
            print("".join(line for line in proc.stderr.splitlines(True) if line.startswith("embed.js:")), end="")
        os.replace(cached + ".part", cached)
    out = np.fromfile(cached, dtype="<f4")
    if out.size != len(sequences) * OUTPUT_WIDTH:
        raise AssertionError(f"{cached}: {out.size} floats for {len(sequences)} sentences")
    return out.reshape(len(sequences), OUTPUT_WIDTH)
