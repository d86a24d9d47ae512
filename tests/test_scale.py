"""Scale-out (docs/scale.md): `embed --shard I/N` and `related --shard I/N` then `userec merge` give exactly the
files one run writes, byte for byte (N = 1, 2, 3, 7, more shards than rows; real catalogues with quoted line
breaks; gzip, JSON, rejected rows with their lines); merge refuses missing, foreign and changed parts and writes
nothing then; `--shard slurm` reads the Slurm task; several devices in one process (`--device cpu:0,0`, the
multi-device code without a GPU) give one device's results; GPU lists without a GPU fail saying why."""
import gzip
import json
import os
import shutil
import tempfile

import common
from common import BIN, DATA, need_shared, run

ADIDAS = ("products/adidas_usa.csv", ["--text-col", "name,description", "--id-col", "sku"])

# Hand-made: quoted line breaks, CRLF, doubled quotes, a blank line, a short row, an empty text, invalid UTF-8
# and an unterminated quote at the very end, so rejects (with their lines) fall in several shards.
TRICKY_CSV = (b"id,name,description\r\n"
              b"1,Mug,\"Blue mug, 300 ml\"\r\n"
              b"2,\"Two\nline\nname\",\"says \"\"hi\"\"\"\r\n"
              b"\r\n"
              b"3,Short row\r\n"
              b"4,,\r\n"
              b"5,Bad \xff\xfe bytes,ok\r\n"
              + b"".join(b"%d,Item %d,\"a text\nover two lines %d\"\r\n" % (i, i, i) for i in range(6, 30))
              + b"30,Last,\"never closed\r\n"
              b"31,swallowed,by the open quote\r\n")


def sibling(path, suffix):
    """A file written beside an output, as userec names it: .npy and .csv lose their extension, others keep it."""
    stem, ext = path.rsplit(".", 1)
    return (stem if ext in ("npy", "csv") else path) + suffix


def outputs(out):
    """The files one embed (.npy: vectors, ids, rejects; .jsonl: rows, rejects) or related run writes, facts aside."""
    if out.endswith(".npy"):
        return [out, sibling(out, ".ids"), sibling(out, ".rejects.tsv")]
    if out.endswith(".jsonl") and os.path.exists(sibling(out, ".rejects.tsv")):
        return [out, sibling(out, ".rejects.tsv")]
    return [out]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def assert_same_files(got_out, want_out):
    for got, want in zip(outputs(got_out), outputs(want_out)):
        assert read(got) == read(want), f"{got} differs from {want} (one run's)"


def part_names(out, n):
    stem, ext = out.rsplit(".", 1)
    return [f"{stem}.part-{i}-of-{n}.{ext}" for i in range(1, n + 1)]


def manifest_of(part, command):
    return sibling(part, f".{command}.shard.json")


def sharded(cmd, out, n, merge=True, env=None):
    """Runs cmd (a list ending before -o) as n shards writing -o out, then merges them; returns the parts' manifests."""
    for i in range(1, n + 1):
        proc = run(cmd + ["-o", out, "--shard", f"{i}/{n}"], check=False, env=env)
        assert proc.returncode in (0, common.EXIT_DATAERR), proc.stderr
    manifests = []
    for part in part_names(out, n):
        with open(manifest_of(part, cmd[1])) as f:
            manifests.append(json.load(f))
    if merge:
        run([BIN, "merge", "-o", out, "--max-reject-rate", "1"])
    return manifests


def embed_cmd(model, path, args):
    return [BIN, "embed", "--model", model, "--input", path, "--quiet", "--max-reject-rate", "1", *args]


def check_embed_shards(model, path, args, counts, tmp, label):
    """One embed run, then the same cut into each N of counts and merged: the same files."""
    single = os.path.join(tmp, f"{label}.single.npy" if "jsonl" not in args else f"{label}.single.jsonl")
    run(embed_cmd(model, path, args) + ["-o", single], check=False)
    for n in counts:
        out = os.path.join(tmp, f"{label}.{n}{os.path.splitext(single)[1]}")
        manifests = sharded(embed_cmd(model, path, args), out, n)
        assert_same_files(out, single)
        rows = [(m["rows_start"], m["rows_end"]) for m in manifests]
        assert rows[0][0] == 0 and all(a[1] == b[0] for a, b in zip(rows, rows[1:])), rows
        print(f"{label}: {n} shards, rows per part {[b - a for a, b in rows]}: merged files equal one run's")


@common.quick
def test_embed_shards_merge_to_one_run():
    need_shared("data/" + ADIDAS[0])
    path = os.path.join(DATA, ADIDAS[0])
    import csv
    with open(path, newline="", encoding="utf-8") as f:
        spanning = sum(any("\n" in field for field in row) for row in csv.reader(f))
    assert spanning > 100, f"{path}: expected rows with quoted line breaks, found {spanning}"
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        check_embed_shards(common.tiny_usew(), path, ADIDAS[1], (1, 2, 3, 7), tmp, "adidas")


def test_embed_shards_on_tricky_inputs():
    """Rejects keep their lines, gzip input, JSON lines, a JSON array, float16, JSONL output, more shards than rows."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        csv_path, gz_path = os.path.join(tmp, "tricky.csv"), os.path.join(tmp, "tricky.csv.gz")
        write(csv_path, TRICKY_CSV)
        with gzip.open(gz_path, "wb") as f:
            f.write(TRICKY_CSV)
        args = ["--text-col", "name,description", "--id-col", "id"]
        check_embed_shards(model, csv_path, args, (2, 5), tmp, "tricky")
        rejects = read(os.path.join(tmp, "tricky.5.rejects.tsv")).decode().splitlines()
        assert rejects[0] == "line\tid\treason" and "7\t3\tmissing column 'description'" in rejects, rejects
        check_embed_shards(model, gz_path, args, (3,), tmp, "gzip")
        check_embed_shards(model, csv_path, args + ["--dtype", "float16"], (4,), tmp, "float16")
        check_embed_shards(model, csv_path, args + ["--format-out", "jsonl"], (3,), tmp, "jsonl-out")
        tiny = os.path.join(tmp, "five.txt")
        with open(tiny, "w") as f:
            f.write("one\ntwo\n\nfour\nfive")
        check_embed_shards(model, tiny, [], (12,), tmp, "more-shards-than-rows")
        need_shared("data/talks/talks.json")
        check_embed_shards(model, os.path.join(DATA, "talks", "talks.json"),
                           ["--format", "jsonl", "--text-col", "name,description", "--id-col", "objectID"], (3,), tmp,
                           "json-array")


def related_cmd(emb, ids, *args):
    return [BIN, "related", "--emb", emb, "--ids", ids, "--quiet", *args]


def test_related_shards_merge_to_one_run():
    need_shared("data/" + ADIDAS[0])
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        emb, ids = os.path.join(tmp, "items.npy"), os.path.join(tmp, "items.ids")
        run(embed_cmd(model, os.path.join(DATA, ADIDAS[0]), ADIDAS[1]) + ["-o", emb])
        cases = [("all-pairs", ["-k", "5"], "csv", (1, 2, 3, 7)),
                 ("include-self", ["-k", "3", "--include-self"], "jsonl", (2,)),
                 ("queries", ["-k", "4", "--queries", emb, "--query-ids", ids], "jsonl", (3,)),
                 ("filters", ["-k", "6", "--min-score", "0.2", "--only-other", "category", "--catalog",
                              os.path.join(DATA, ADIDAS[0]), "--id-col", "sku"], "csv", (4,)),
                 ("k-above-the-items", ["-k", "2000"], "csv", (2,))]
        for label, args, ext, counts in cases:
            single = os.path.join(tmp, f"{label}.single.{ext}")
            run(related_cmd(emb, ids, *args, "-o", single))
            for n in counts:
                out = os.path.join(tmp, f"{label}.{n}.{ext}")
                manifests = sharded(related_cmd(emb, ids, *args), out, n)
                assert read(out) == read(single), f"{label}, {n} shards: merged lists differ from one run's"
                print(f"related {label}: {n} shards ({[m['rows_end'] - m['rows_start'] for m in manifests]} lists) "
                      "merge to one run's file")
        # more shards than queries: some parts hold no list at all
        small = os.path.join(tmp, "small.npy")
        import numpy as np
        np.save(small, np.load(emb)[:3])
        single = os.path.join(tmp, "small.single.csv")
        run([BIN, "related", "--emb", small, "--quiet", "-k", "2", "-o", single])
        out = os.path.join(tmp, "small.5.csv")
        sharded([BIN, "related", "--emb", small, "--quiet", "-k", "2"], out, 5)
        assert read(out) == read(single)


def test_merge_refuses_missing_foreign_and_changed_parts():
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        data, other = os.path.join(tmp, "data.csv"), os.path.join(tmp, "other.csv")
        write(data, TRICKY_CSV)
        write(other, TRICKY_CSV.replace(b"Mug", b"Cup"))
        args = ["--text-col", "name,description", "--id-col", "id"]
        out = os.path.join(tmp, "vec.npy")
        sharded(embed_cmd(model, data, args), out, 3, merge=False)
        parts = part_names(out, 3)
        manifest2 = manifest_of(parts[1], "embed")

        def refused(says, *extra):
            proc = run([BIN, "merge", "-o", out, *extra], check=False)
            # 66: a part missing or unfinished; 65: one from another job, changed or cut short
            assert proc.returncode in (common.EXIT_NOINPUT, common.EXIT_DATAERR), f"merge exited {proc.returncode}\n{proc.stderr}"
            assert says in proc.stderr, f"expected '{says}' in:\n{proc.stderr}"
            assert not any(os.path.exists(p) for p in outputs(out)), "a refused merge wrote an output"
            return proc

        saved = read(manifest2)
        os.remove(manifest2)
        refused(f"{manifest2} is missing: shard 2 of 3 has not finished")
        write(manifest2, saved)
        # shard 2 run again on another input: a foreign part, named with the fact that differs
        run(embed_cmd(model, other, args) + ["-o", out, "--shard", "2/3"], check=False)
        refused(f"{manifest2} is from another job: its input_crc32 is")
        run(embed_cmd(model, data, args) + ["-o", out, "--shard", "2/3"], check=False)
        run(embed_cmd(model, data, args + ["--strict"]) + ["-o", out, "--shard", "2/3"], check=False)
        refused("its options is")
        run(embed_cmd(model, data, args) + ["-o", out, "--shard", "2/3"], check=False)
        # a part cut short after its shard finished
        ids1 = parts[0].rsplit(".", 1)[0] + ".ids"
        saved = read(ids1)
        write(ids1, saved[:-3])
        refused(f"{ids1} has {len(saved) - 3} bytes, but its manifest")
        write(ids1, saved)
        # parts of two jobs beside one -o: which one is meant must be said
        sharded(embed_cmd(model, data, args), out, 2, merge=False)
        refused("parts of more than one job beside it")
        run([BIN, "merge", "-o", out, "--parts", "3", "--max-reject-rate", "1", "--quiet"])
        single = os.path.join(tmp, "single.npy")
        run(embed_cmd(model, data, args) + ["-o", single], check=False)
        assert_same_files(out, single)
        # the outputs of one command are not merged as the other's
        proc = run([BIN, "merge", "-o", os.path.join(tmp, "vec.csv")], check=False)
        assert proc.returncode == common.EXIT_NOINPUT and "vec.part-I-of-N.related.shard.json" in proc.stderr, proc.stderr
        proc = run([BIN, "merge", "-o", os.path.join(tmp, "vec.txt")], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "merge writes what embed" in proc.stderr, proc.stderr
        rel = os.path.join(tmp, "rel.jsonl")
        sharded(related_cmd(single, os.path.join(tmp, "single.ids"), "-k", "2"), rel, 2, merge=False)
        shutil.copy(rel.replace("rel.jsonl", "rel.part-1-of-2.jsonl.related.shard.json"),
                    os.path.join(tmp, "vec2.part-1-of-1.embed.shard.json"))
        shutil.copy(rel.replace("rel.jsonl", "rel.part-1-of-2.jsonl"), os.path.join(tmp, "vec2.part-1-of-1.npy"))
        proc = run([BIN, "merge", "-o", os.path.join(tmp, "vec2.npy")], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "written by 'related'" in proc.stderr, proc.stderr


def test_reject_rate_of_the_whole_job():
    """A shard over its own reject rate publishes no part, so the job cannot be merged; shards run with
    --max-reject-rate 1 leave the judgement to merge, which counts all rows together and writes nothing when over."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        data = os.path.join(tmp, "data.csv")
        write(data, TRICKY_CSV)
        out = os.path.join(tmp, "vec.npy")
        cmd = [BIN, "embed", "--model", model, "--input", data, "--quiet", "--text-col", "name,description",
               "--id-col", "id"]
        codes = [run(cmd + ["-o", out, "--shard", f"{i}/2"], check=False).returncode for i in (1, 2)]
        assert common.EXIT_DATAERR in codes, f"no shard failed on its rejects: {codes}"
        assert not all(os.path.exists(p) for p in part_names(out, 2)), "a shard over its reject rate published its part"
        proc = run([BIN, "merge", "-o", out], check=False)
        assert proc.returncode == common.EXIT_NOINPUT, proc.stderr  # a part (or every part) is missing
        for i in (1, 2):
            run(cmd + ["-o", out, "--shard", f"{i}/2", "--max-reject-rate", "1"])
        proc = run([BIN, "merge", "-o", out], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "more than --max-reject-rate" in proc.stderr, proc.stderr
        assert not any(os.path.exists(p) for p in outputs(out)), "merge over the reject rate wrote an output"
        run([BIN, "merge", "-o", out, "--max-reject-rate", "0.5", "--quiet"])
        assert all(os.path.exists(p) for p in outputs(out))


def test_shard_slurm_and_bad_shards():
    need_shared("data/" + ADIDAS[0])
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        emb = os.path.join(tmp, "items.npy")
        run(embed_cmd(common.tiny_usew(), os.path.join(DATA, ADIDAS[0]), ADIDAS[1]) + ["-o", emb])
        base = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        cases = [({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4",
                   "SLURM_ARRAY_TASK_COUNT": "4"}, "part-3-of-4"),
                 ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "2",
                   "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}, "part-1-of-3"),
                 ({"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}, "part-2-of-2")]
        for env, part in cases:
            out = os.path.join(tmp, "rel.csv")
            run([BIN, "related", "--emb", emb, "-k", "2", "--quiet", "-o", out, "--shard", "slurm"], env={**base, **env})
            assert os.path.exists(out.replace("rel.csv", f"rel.{part}.csv")), f"{env}: no {part}"
        for env, says in (({}, "run it under sbatch --array or srun"),
                          ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "5",
                            "SLURM_ARRAY_TASK_COUNT": "3"}, "not one evenly spaced range")):
            proc = run([BIN, "related", "--emb", emb, "-o", os.path.join(tmp, "x.csv"), "--shard", "slurm"],
                       env={**base, **env}, check=False)
            assert proc.returncode == common.EXIT_USAGE and says in proc.stderr, proc.stderr
        for bad in ("0/3", "4/3", "2", "x"):
            proc = run([BIN, "related", "--emb", emb, "-o", os.path.join(tmp, "x.csv"), "--shard", bad], check=False)
            assert proc.returncode == common.EXIT_USAGE and "--shard wants I/N" in proc.stderr, proc.stderr
        proc = run([BIN, "embed", "--model", common.tiny_usew(), "--input", "-", "--format", "lines", "-o",
                    os.path.join(tmp, "x.npy"), "--shard", "1/2"], check=False, input="a\n")
        assert proc.returncode == common.EXIT_USAGE and "stdin" in proc.stderr, proc.stderr
        assert not [n for n in os.listdir(tmp) if n.startswith("x.")], os.listdir(tmp)


def test_merge_memory_stays_flat():
    """merge copies in chunks: its peak memory does not follow the catalogue (20,000 against 200,000 rows)."""
    model = common.tiny_usew()
    words = ["red", "blue", "shoe", "table", "lamp", "wooden", "steel", "bottle", "chair", "jacket"]
    peaks = {}
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        for rows in (20000, 200000):
            path = os.path.join(tmp, f"{rows}.txt")
            with open(path, "w") as f:
                for i in range(rows):
                    f.write(f"{words[i % 10]} {words[i * 7 % 10]} {words[i * 3 % 10]} {i}\n")
            out = os.path.join(tmp, f"{rows}.npy")
            sharded([BIN, "embed", "--model", model, "--input", path, "--quiet"], out, 2, merge=False)
            peaks[rows] = common.peak_rss_kb([BIN, "merge", "-o", out, "--quiet"])
            assert os.path.getsize(out) > rows * 100
    print(f"merge peak RSS: {peaks[20000]} kB at 20,000 rows, {peaks[200000]} kB at 200,000")
    assert peaks[200000] < 1.2 * peaks[20000] + 2048, peaks


def test_several_cpu_encoders_equal_one():
    """--device cpu:0,0 runs the multi-device dispatcher (what cuda:0,1 runs) with two CPU encoders: embed,
    related and query give one device's bytes."""
    need_shared("data/" + ADIDAS[0])
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        one, two = os.path.join(tmp, "one.npy"), os.path.join(tmp, "two.npy")
        cmd = embed_cmd(model, os.path.join(DATA, ADIDAS[0]), ADIDAS[1]) + ["--batch-tokens", "3000"]
        run(cmd + ["-o", one])
        run(cmd + ["-o", two, "--device", "cpu:0,0,0"])
        assert_same_files(two, one)
        facts = json.load(open(os.path.join(tmp, "two.embed.json")))
        assert facts["encoder"] == "cpu:0,0,0: 3 x cpu fp32", facts["encoder"]
        ids = os.path.join(tmp, "one.ids")
        for args in (["-k", "5"], ["-k", "3", "--queries", one, "--query-ids", ids]):
            run(related_cmd(one, ids, *args, "-o", os.path.join(tmp, "r1.csv")))
            proc = run(related_cmd(one, ids, *args, "-o", os.path.join(tmp, "r2.csv"), "--device", "cpu:0,0"))
            assert read(os.path.join(tmp, "r1.csv")) == read(os.path.join(tmp, "r2.csv")), args
        query = [BIN, "query", "--model", model, "--emb", one, "--ids", ids, "-k", "3", "Beach Shorts", "running shoe"]
        assert run(query).stdout == run(query + ["--device", "cpu:0,0"]).stdout


def test_bench_of_a_device_list_reports_scaling():
    """bench --device cpu:0,0 (what cuda:all runs): each device alone, then together, and the scaling entry whose
    shares add up to the sentences of the timed runs together."""
    proc = run([BIN, "bench", "--model", common.tiny_usew(), "--device", "cpu,cpu:0,0", "--seq-len", "16",
                "--batch", "32", "--repeat", "2", "--json"])
    report = json.loads(proc.stdout)
    devices = [r["device"] for r in report["results"]]
    assert devices == ["cpu fp32", "cpu fp32", "cpu fp32", "cpu:0,0: 2 x cpu fp32"], devices
    (scaling,) = report["scaling"]
    assert scaling["devices"] == 2 and len(scaling["shares"]) == 2, scaling
    assert sum(s["sentences"] for s in scaling["shares"]) == 2 * 64, scaling  # 2 timed runs of 2 x 32 sentences
    alone = report["results"][1]["sentences_per_s"] + report["results"][2]["sentences_per_s"]
    assert abs(scaling["alone_sum_sentences_per_s"] - alone) <= 1e-3 * alone, (scaling, alone)
    assert abs(scaling["scaling_efficiency"] - scaling["sentences_per_s"] / alone) < 1e-3, scaling


def test_gpu_lists_without_a_gpu_fail_saying_why():
    devices = run([BIN, "devices"]).stdout
    if "usable" in devices and "not usable" not in devices and "unavailable" not in devices:
        raise common.Skip("this machine has a usable GPU: tests/gpu/device_check.sh runs the lists there")
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        text = os.path.join(tmp, "t.txt")
        with open(text, "w") as f:
            f.write("a text\n")
        for device, says in (("cuda:0,1", "--device cuda:0: no usable GPU: "),
                             ("cuda:all", "--device cuda:all: no usable GPU: ")):
            proc = run([BIN, "embed", "--model", model, "--input", text, "-o", os.path.join(tmp, "v.npy"), "--device",
                        device], check=False)
            assert proc.returncode == common.EXIT_UNAVAILABLE and says in proc.stderr, proc.stderr
            assert not os.path.exists(os.path.join(tmp, "v.npy"))
        proc = run([BIN, "bench", "--model", model, "--device", "cpu,cuda:x"], check=False)
        assert proc.returncode == common.EXIT_USAGE and "'cuda:x'" in proc.stderr, proc.stderr


def test_two_encoders_on_one_gpu_equal_one():
    """On a usable GPU (tests/gpu/device_check.sh runs it): cuda:0,0 (two encoders on one card, the multi-GPU
    code) gives cuda:0's bytes on embed in fp32 and bf16, and related's lists split over cuda:0,0 equal one
    search."""
    if "; usable" not in run([BIN, "devices"]).stdout:
        raise common.Skip("no usable GPU: cuda:0,0 against cuda:0 runs in tests/gpu/device_check.sh")
    need_shared("data/" + ADIDAS[0])
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        for precision in ("fp32", "bf16"):
            one, two = os.path.join(tmp, f"one-{precision}.npy"), os.path.join(tmp, f"two-{precision}.npy")
            cmd = embed_cmd(model, os.path.join(DATA, ADIDAS[0]), ADIDAS[1]) + ["--precision", precision]
            run(cmd + ["-o", one, "--device", "cuda:0"])
            run(cmd + ["-o", two, "--device", "cuda:0,0", "--batch-tokens", "4096"])
            assert_same_files(two, one)
        one, ids = os.path.join(tmp, "one-fp32.npy"), os.path.join(tmp, "one-fp32.ids")
        run(related_cmd(one, ids, "-k", "10", "--device", "cuda:0", "-o", os.path.join(tmp, "r1.csv")))
        run(related_cmd(one, ids, "-k", "10", "--device", "cuda:0,0", "-o", os.path.join(tmp, "r2.csv")))
        assert read(os.path.join(tmp, "r1.csv")) == read(os.path.join(tmp, "r2.csv")), "related on cuda:0,0"


def test_an_id_repeated_across_shards_is_refused_by_merge():
    """A shard sees repeated ids only within its block: an id in two parts would make the merged files differ from
    one run's (which rejects both rows), so merge refuses and names it, writing nothing; ids that are row numbers
    cannot repeat and are not held."""
    model = common.tiny_usew()
    with tempfile.TemporaryDirectory(prefix="userec-scale-") as tmp:
        data = os.path.join(tmp, "c.csv")
        write(data, b"id,name\na1,red shoe\nb2,blue shoe\na1,green hat\nd4,red hat\n")
        out = os.path.join(tmp, "vec.npy")
        sharded(embed_cmd(model, data, ["--text-col", "name", "--id-col", "id"]), out, 2, merge=False)
        proc = run([BIN, "merge", "-o", out], check=False)
        assert proc.returncode == common.EXIT_DATAERR and "the id 'a1' is in an earlier part too" in proc.stderr, \
            proc.stderr
        assert not any(os.path.exists(p) for p in outputs(out)), "a refused merge wrote an output"
        one = os.path.join(tmp, "one.npy")
        run(embed_cmd(model, data, ["--text-col", "name", "--id-col", "id"]) + ["-o", one])
        assert read(sibling(one, ".ids")) == b"b2\nd4\n"  # the single run rejects both rows of a1
        # without --id-col the ids are row numbers: the same parts merge
        out = os.path.join(tmp, "rows.npy")
        sharded(embed_cmd(model, data, ["--text-col", "name"]), out, 2)
