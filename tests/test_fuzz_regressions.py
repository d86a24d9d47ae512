"""The fuzz targets (tests/fuzz/), built without clang or libFuzzer (tests/fuzz/replay.c), replay every input that
`make fuzz` ever kept in tests/fuzz/regressions/<target>/ and the seeds make_seeds.py makes: a crash input found
once stays a test for good, and the targets' own checks (encode_first against encode, every refusal explained)
run in every `make test`. `make fuzz` itself runs them under AddressSanitizer and UndefinedBehaviorSanitizer."""
import glob
import os
import subprocess
import sys
import tempfile

import common
from common import BUILD, ROOT, SHARED, run

FUZZ = os.path.join(ROOT, "tests", "fuzz")
TARGETS = sorted(os.path.basename(p)[:-2] for p in glob.glob(os.path.join(FUZZ, "fuzz_*.c")))


@common.quick
def test_every_target_replays_its_kept_inputs_and_seeds():
    model = common.test_usew()
    with tempfile.TemporaryDirectory(prefix="userec-fuzz-") as tmp:
        run([sys.executable, os.path.join(FUZZ, "make_seeds.py"), tmp, "--shared", SHARED, "--model", model,
             "--bin", common.BIN])
        for target in TARGETS:
            binary = os.path.join(BUILD, "fuzz-replay", target)
            assert os.access(binary, os.X_OK), f"{binary} is not built (make test builds it)"
            kept = sorted(glob.glob(os.path.join(FUZZ, "regressions", target, "*")))
            inputs = kept + sorted(glob.glob(os.path.join(tmp, target, "*")))
            assert inputs, target
            proc = subprocess.run([binary, *inputs], capture_output=True, text=True, errors="replace", timeout=600,
                                  env={**os.environ, "USEREC_FUZZ_MODEL": model, "OMP_NUM_THREADS": "1"})
            replayed = proc.stdout.count("replayed ")
            print(f"{target}: {replayed} inputs replayed ({len(kept)} kept from earlier fuzzing)")
            assert proc.returncode == 0 and replayed == len(inputs), (target, proc.returncode, proc.stderr[-2000:])
