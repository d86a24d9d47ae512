"""Runs the TF.js reference graph (tests/oracle/embed.js) from Python tests."""
import hashlib
import os
import tempfile

import numpy as np

from common import BUILD, ROOT, ensure_npm_packages, run

ORACLE_DIR = os.path.join(ROOT, "tests", "oracle")
OUTPUT_WIDTH = 512


def _cache_key(model_dir, ids_text, batch):
    """Names one oracle result: the driver, the pinned packages, the model files and the input."""
    h = hashlib.sha256()
    for path in ("embed.js", "model_files.js", "package-lock.json"):
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
        ensure_npm_packages(ORACLE_DIR, "the TF.js reference graph")
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
