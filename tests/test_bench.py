"""`userec bench --json`: the figures are consistent with each other and with the documented FLOP count."""
import json
import os
import tempfile

import common
from common import BIN, run

# docs/perf.md: the matrix products the CPU encoder does for USE-lite, 2 x multiply-adds per token and per
# sentence. Layer 0's qkv (256 x 768) and residual projection (256 x 512) are looked up in per-token tables, its
# feed-forward up-projection runs on the attention's 256-wide output (256 x 1536, folded through its tables), and
# the last layer's down-projection (512 x 1536) runs once per sentence, after pooling (docs/architecture.md).
FLOPS_PER_TOKEN = 2 * (256 * 512 + 256 * 1536 + 512 * 1536 + 512 * 1536 + 512 * 512 + 512 * 1536)
FLOPS_PER_SENTENCE = 2 * (1536 * 512 + 512 * 512)


@common.quick
def test_bench_json_figures_are_consistent():
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-bench-") as tmp:
        texts = os.path.join(tmp, "texts.txt")
        with open(texts, "w") as f:
            f.writelines(f"item {i}: a {'small large'.split()[i % 2]} red mug\n" for i in range(40))
        out = run([BIN, "bench", "--model", model, "--seq-len", "8,20", "--batch", "16", "--repeat", "2",
                   "--texts", texts, "--json"]).stdout
    report = json.loads(out)
    assert report["load_s"] > 0 and report["cpu_sgemm_gflops"] > 0 and report["cpu_gemm_gflops"] > 0, report
    # The run's kernels are the widest ISA the CPU has (no USEREC_CPU_ISA here), the peak probed with it.
    assert report["cpu_isa"] == report["cpu_peak_isa"] in ("generic", "avx2", "avx512"), report
    assert report["cpu_model"], report
    peaks = report["cpu_isa_peak_gflops"]  # every ISA's fp32 probe; the widest's is where the MFU peak started
    assert "generic" in peaks and report["cpu_peak_isa"] in peaks and all(v > 0 for v in peaks.values()), report
    assert peaks[report["cpu_peak_isa"]] <= report["cpu_peak_gflops"], report
    timed = [r for r in report["results"] if "tokens_per_s" in r]
    assert [r["workload"] for r in timed] == ["8", "20", "texts.txt"], timed
    for r in timed:
        mean_tokens = r["tokens"] / r["sentences"]
        assert abs(r["sentences_per_s"] * mean_tokens / r["tokens_per_s"] - 1) < 1e-3, r
        gflops = (r["tokens_per_s"] * FLOPS_PER_TOKEN + r["sentences_per_s"] * FLOPS_PER_SENTENCE) / 1e9
        assert abs(gflops / r["gflops"] - 1) < 1e-2, (gflops, r)
        assert 0 < r["mfu"] <= 1 and abs(r["mfu"] - r["gflops"] / r["peak_gflops"]) < 1e-3, r
        # the best fma probe so far: the probes run again before every timed run, so a later one may be higher
        assert 0 < r["peak_gflops"] <= report["cpu_peak_gflops"], (r, report["cpu_peak_gflops"])
        assert r["seconds_min"] <= r["seconds_median"] <= r["seconds_max"], r
        assert r["isa"] == report["cpu_isa"] and r["peak_isa"] == report["cpu_peak_isa"], r
        assert r["peak_kind"] == "fp32 fma", r
    assert timed[0]["tokens"] == 16 * 8 and timed[1]["tokens"] == 16 * 20
    job = report["results"][-1]
    assert job["workload"] == "texts.txt job" and job["texts"] == 40, job
    assert job["tokenize_s"] > 0 and job["encode_s"] > 0 and job["topk_s"] > 0, job
