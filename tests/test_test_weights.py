"""Test weights say what they are: tools/make_test_model.py marks its folder, tools/convert.py copies the mark
into the .usew provenance, and `info` and `embed` warn (so do `report` and `eval`, tests/test_report.py and
tests/test_eval.py). Weights converted without the mark stay quiet. `embed` records the fact in OUT.embed.json."""
import json
import os
import sys
import tempfile

import common
from common import BIN, ROOT, run

WARNING = "TEST weights"


def _provenance(path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import usew

    with open(path, "rb") as f:
        _, tensors = usew.parse(f.read(), path)
    return json.loads(tensors["meta.provenance"].data)


@common.quick
def test_test_model_is_marked_and_info_and_embed_say_so():
    model = common.test_usew()
    prov = _provenance(model)
    assert prov["test_weights"]["seed"] == 1 and "make_test_model" in prov["test_weights"]["generator"], prov
    assert "TEST_WEIGHTS.json" in [s["file"] for s in prov["sources"]], prov["sources"]
    info = run([BIN, "info", model]).stdout
    assert "TEST WEIGHTS" in info and WARNING in info, info[-600:]
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        out = os.path.join(tmp, "v.npy")
        proc = run([BIN, "embed", "--model", model, "--input", "-", "--format", "lines", "-o", out, "--quiet"],
                   input="red shoes\nblue shoes\n")
        assert WARNING in proc.stderr, proc.stderr  # even with --quiet: it is a warning, not progress
        with open(os.path.join(tmp, "v.embed.json")) as f:
            facts = json.load(f)
    assert facts["command"] == "embed" and facts["test_weights"] is True and facts["model"] == model, facts
    assert (facts["rows_read"], facts["embedded"], facts["rejected"]) == (2, 2, 0), facts
    assert facts["tokenizer"] == "spm" and facts["encoder"] == "cpu fp32" and facts["seconds"] > 0, facts


def test_weights_without_the_mark_are_not_called_test_weights():
    folder = common.tfjs_test_model()
    with tempfile.TemporaryDirectory(prefix="userec-test-") as tmp:
        src = os.path.join(tmp, "unmarked")
        common.linked_copy(folder, src, skip=("TEST_WEIGHTS.json",))
        out = os.path.join(tmp, "m.usew")
        run([sys.executable, os.path.join(ROOT, "tools", "convert.py"), src, "-o", out, "--spm-model", common.SPM_MODEL])
        assert "test_weights" not in _provenance(out)
        assert WARNING not in run([BIN, "info", out]).stdout
        proc = run([BIN, "embed", "--model", out, "--input", "-", "--format", "lines", "-o",
                    os.path.join(tmp, "v.npy"), "--quiet"], input="red shoes\n")
        assert WARNING not in proc.stderr, proc.stderr
        with open(os.path.join(tmp, "v.embed.json")) as f:
            assert json.load(f)["test_weights"] is False
