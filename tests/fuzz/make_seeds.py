#!/usr/bin/python3
"""Seed corpora for the fuzz targets, made at fuzz time from the real files in ../shared, the repository's example
and the test models (nothing from ../shared is committed): usage: make_seeds.py OUT_DIR [--shared DIR] [--bin USEREC]

OUT_DIR/<target>/ gets one file per seed. Each target's first byte(s) choose its mode (see tests/fuzz/fuzz_*.c);
seeds carry the choice that fits their bytes."""
import argparse
import gzip
import io
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import usew  # noqa: E402

FORMATS = {"lines": 0, "csv": 1, "tsv": 2, "jsonl": 3, "ids": 4}  # input_format order


def input_selector(fmt, no_header=0, keys=0, small=0):
    """The first byte fuzz_input.c reads as (format, no_header, key set, small max_record)."""
    for pick in range(256):
        if (pick % 5, (pick // 5) & 1, (pick >> 4) & 3, pick >> 7) == (FORMATS[fmt], no_header, keys, small):
            return bytes([pick])
    raise ValueError((fmt, no_header, keys, small))


def micro_model(tokenizers):
    """A USE-lite-shaped .usew a few KB long (widths 4 -> 8, 2 heads), with small spm and tfjs payloads if asked."""
    w0, d, ffn, vocab = 4, 8, 8, 10
    hp = {"n_layers": 2, "d_model": d, "n_heads": 2, "d_ffn": ffn, "vocab_rows": vocab, "n_pieces": 0, "max_len": 16,
          "pooling": usew.POOL_MEAN, "flags": usew.FLAGS_KNOWN, "default_tokenizer": usew.TOK_NONE,
          "normalizer_flags": 7, "ln_eps": 1e-6, "l2_floor": 1e-12, "unk_id": 0, "layer_width": [w0, d]}
    seed = [0]

    def f32(name, *shape):
        n = 1
        for s in shape:
            n *= s
        seed[0] += 1
        values = [((seed[0] * 7919 + i * 104729) % 2000 - 1000) / 4000.0 for i in range(n)]
        return usew.Tensor(name, usew.F32, shape, struct.pack(f"<{n}f", *values))

    t = [f32("embed.table", vocab, w0), f32("embed.timing_inv", w0 // 2)]
    for i, w in enumerate((w0, d)):
        t += [f32(f"l{i}.attn_norm.scale", w), f32(f"l{i}.attn_norm.bias", w), f32(f"l{i}.attn.qkv.weight", w, 3 * w),
              f32(f"l{i}.attn.qkv.bias", 3 * w), f32(f"l{i}.attn.out.weight", w, d), f32(f"l{i}.attn.out.bias", d),
              f32(f"l{i}.ffn_norm.scale", d), f32(f"l{i}.ffn_norm.bias", d), f32(f"l{i}.ffn.up.weight", d, ffn),
              f32(f"l{i}.ffn.up.bias", ffn), f32(f"l{i}.ffn.down.weight", ffn, d), f32(f"l{i}.ffn.down.bias", d)]
    t += [f32("l0.proj.weight", w0, d), f32("l0.proj.bias", d), f32("head.weight", d, d), f32("head.bias", d)]
    if tokenizers:
        pieces = ["<unk>", "<s>", "</s>", "\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "ba"]
        blob = b"".join(p.encode() + b"\0" for p in pieces)
        t += [usew.Tensor("tok.spm.pieces", usew.U8, [len(blob)], blob),
              usew.Tensor("tok.spm.scores", usew.F32, [len(pieces)],
                          struct.pack(f"<{len(pieces)}f", 0, 0, 0, -2, -1.5, -1.75, -2.5, -3, -3.5, -4)),
              usew.Tensor("tok.spm.types", usew.U8, [len(pieces)], bytes([2, 3, 3, 1, 1, 1, 1, 1, 1, 1])),
              usew.Tensor("tok.spm.charsmap", usew.U8, [0], b"")]
        vocab_json = json.dumps([["\ufffd", 0], ["<s>", 0], ["</s>", 0], ["x", 0], ["y", 0], ["z", 0], ["\u2581", -1.0],
                                 ["a", -2.0], ["\u2581a", -2.5], ["b", None]], ensure_ascii=False).encode()
        t.append(usew.Tensor("tok.tfjs.vocab", usew.U8, [len(vocab_json)], vocab_json))
        hp.update(n_pieces=len(pieces), default_tokenizer=usew.TOK_SPM)
    return usew.pack(hp, t)


def first_lines(path, limit=4096):
    """The first bytes of a file (decompressed if .gz), cut after the last whole line within limit."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        head = f.read(limit)
    cut = head.rfind(b"\n")
    return head[:cut + 1] if cut > 0 else head


def npy_bytes(array, version=(1, 0)):
    import numpy as np

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(array), version=version)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared"))
    ap.add_argument("--bin", help="a built userec, to make .npy and ids files the way embed writes them")
    ap.add_argument("--model", help="a .usew with both tokenizers (the test model), for a real model seed")
    args = ap.parse_args()
    seeds = {name: {} for name in ("fuzz_model", "fuzz_npy", "fuzz_input", "fuzz_tokenizer", "fuzz_ids")}
    data = os.path.join(args.shared, "data")

    # models: two micro ones, and the tiny-width test model when built (its real tokenizer payloads)
    seeds["fuzz_model"]["micro"] = micro_model(False)
    seeds["fuzz_model"]["micro_tokenizers"] = micro_model(True)
    import common  # noqa: E402  (tests/common.py: the test models, built from ../shared)
    try:
        with open(common.tiny_usew(), "rb") as f:
            seeds["fuzz_model"]["tiny"] = f.read()
    except (common.Skip, OSError, AssertionError) as e:
        print(f"make_seeds: no tiny test model ({e}); model seeds are the micro ones only")

    # .npy: what numpy writes, every header version, and what the reader must refuse
    import numpy as np

    rng = np.random.default_rng(13)
    for name, (array, version) in {
            "f32": (rng.standard_normal((3, 4)).astype("<f4"), (1, 0)),
            "f16": (rng.standard_normal((2, 8)).astype("<f2"), (1, 0)),
            "v2": (rng.standard_normal((2, 3)).astype("<f4"), (2, 0)),
            "v3": (rng.standard_normal((2, 3)).astype("<f4"), (3, 0)),
            "fortran": (np.asfortranarray(rng.standard_normal((3, 2)).astype("<f4")), (1, 0)),
            "cube": (np.ones((2, 2, 2), "<f4"), (1, 0)), "vector": (np.ones(5, "<f4"), (1, 0)),
            "empty": (np.zeros((0, 4), "<f4"), (1, 0)), "big_endian": (np.ones((2, 2), ">f4"), (1, 0)),
            "float64": (np.ones((2, 2)), (1, 0))}.items():
        seeds["fuzz_npy"][name] = npy_bytes(array, version)

    # input files: the repository's example and the first lines of every catalogue under ../shared/data
    sources = [os.path.join(ROOT, "examples", "products.csv")]
    for folder, _, files in os.walk(data):
        sources += [os.path.join(folder, n) for n in sorted(files) if n.endswith((".csv", ".tsv", ".json", ".jsonl", ".gz", ".txt"))]
    for path in sources:
        name = os.path.relpath(path, data if path.startswith(data) else ROOT).replace(os.sep, "_")
        base = path[:-3] if path.endswith(".gz") else path
        fmt = "csv" if base.endswith(".csv") else "tsv" if base.endswith(".tsv") else \
              "jsonl" if base.endswith((".json", ".jsonl")) else "lines"
        try:
            chunk = first_lines(path)
        except OSError:
            continue
        keys = {"jsonl": 1}.get(fmt, 0)  # the Amazon metadata's title/description/asin
        sel = input_selector(fmt, no_header=1 if fmt in ("csv", "tsv") else 0, keys=keys)
        seeds["fuzz_input"][name] = sel + chunk
        seeds["fuzz_input"][name + ".gz"] = sel + gzip.compress(chunk, mtime=0)
    seeds["fuzz_input"]["csv_header"] = input_selector("csv") + b'id,a,b\n1,"red, shoes",x\n2,"say ""hi""\nthere",y\n'
    seeds["fuzz_input"]["tsv_header"] = input_selector("tsv") + b"id\ta\tb\n1\tred\tshoes\n2\t\tempty\n"
    seeds["fuzz_input"]["jsonl_array"] = input_selector("jsonl", keys=2) + b'[{"id": "1", "a": "x", "b": ["y", null]}]'
    seeds["fuzz_input"]["ids_lines"] = input_selector("ids") + b"1 2 3\n\n8001 7\nx 9\n"
    seeds["fuzz_input"]["long_record"] = input_selector("lines", small=1) + b"a" * 300 + b"\nshort\n"

    # tokenizer texts: the hand-made edge cases of the tokenizer tests and catalogue lines
    import tokenizer_texts as tt

    texts = tt.edge_cases()
    for path in sources[:8]:
        try:
            texts += [line for line in first_lines(path, 2048).split(b"\n") if line][:20]
        except OSError:
            pass
    for i, text in enumerate(texts):
        seeds["fuzz_tokenizer"][f"text{i:03d}"] = bytes([i & 0xFF, (i * 37) & 0xFF]) + text

    # ids files, and the .npy/.ids pair `userec embed` writes for the example catalogue
    seeds["fuzz_ids"]["plain"] = b"\0a\nb\nc\n"
    seeds["fuzz_ids"]["crlf_no_last_newline"] = b"\0x\r\ny\r\nz"
    seeds["fuzz_ids"]["nul"] = b"\0a\0b\nc\n"
    seeds["fuzz_ids"]["count_mismatch"] = b"\x05a\nb\n"
    if args.bin and args.model:
        with tempfile.TemporaryDirectory(prefix="userec-seeds-") as tmp:
            out, few = os.path.join(tmp, "items.npy"), os.path.join(tmp, "few.csv")
            with open(sources[0], "rb") as f, open(few, "wb") as g:  # a few rows: seeds stay small
                g.write(b"".join(f.readlines()[:4]))
            proc = subprocess.run([args.bin, "embed", "--model", args.model, "--input", few, "--text-col",
                                   "name", "--id-col", "id", "-o", out, "--quiet"], capture_output=True, text=True)
            if proc.returncode == 0:
                seeds["fuzz_npy"]["embed_output"] = open(out, "rb").read()
                seeds["fuzz_ids"]["embed_output"] = b"\0" + open(os.path.join(tmp, "items.ids"), "rb").read()
            else:
                print(f"make_seeds: embed of {sources[0]} failed, no embed seeds: {proc.stderr.strip()}")

    for target, files in seeds.items():
        folder = os.path.join(args.out, target)
        os.makedirs(folder, exist_ok=True)
        for name, blob in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(blob)
        print(f"make_seeds: {target}: {len(files)} seeds, {sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
