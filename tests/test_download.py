"""weights/download.sh: fails fast offline with install instructions, and verifies every file's sha256."""
import os
import shutil
import subprocess
import tempfile
import time

import common
from common import ROOT, SPM_MODEL, USE_LITE, need_shared

SCRIPT = os.path.join(ROOT, "weights", "download.sh")
SPM = "universal_encoder_8k_spm.model"
SHARDS = [f"group1-shard{i}of7" for i in range(1, 8)]
# A loopback port nobody listens on (the discard port): the connection is refused at once. Tests never send
# traffic beyond this machine.
UNREACHABLE = {"USEREC_TFJS_URL": "http://127.0.0.1:9/tfjs", "USEREC_HUB_URL": "http://127.0.0.1:9/hub.tar.gz"}


def download(tmp, *args):
    """Runs the script with its download folder and output in tmp; returns (process, seconds)."""
    started = time.time()
    proc = subprocess.run(["sh", SCRIPT, "--dir", os.path.join(tmp, "dl"), "-o", os.path.join(tmp, "out.usew"),
                           *args], capture_output=True, text=True, timeout=120, env={**os.environ, **UNREACHABLE})
    print(proc.stderr)
    return proc, time.time() - started


def stage(folder, flip=()):
    """The 10 files of an offline install: real model.json, vocab.json, shard 7 and SentencePiece model,
    zero-filled shards 1-6 of the right size (their real bytes are not here); one byte flipped in `flip`."""
    os.makedirs(folder)
    for name in ("model.json", "vocab.json", SHARDS[6]):
        shutil.copyfile(os.path.join(USE_LITE, "tfjs", name), os.path.join(folder, name))
    shutil.copyfile(SPM_MODEL, os.path.join(folder, SPM))
    for name in SHARDS[:6]:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(bytes(4194304))
    for name in flip:
        with open(os.path.join(folder, name), "r+b") as f:
            f.seek(1000)
            byte = f.read(1)
            f.seek(1000)
            f.write(bytes([byte[0] ^ 1]))


def test_offline_fails_fast_with_instructions():
    with tempfile.TemporaryDirectory() as tmp:
        proc, seconds = download(tmp)
        assert proc.returncode != 0
        assert seconds < 20, f"took {seconds:.1f} s"
        for text in ("Offline install", "http://127.0.0.1:9/tfjs/model.json", "vocab.json", SHARDS[0], SHARDS[6],
                     SPM, os.path.join(tmp, "dl", "tfjs") + "/", "--from DIR"):
            assert text in proc.stderr, f"message lacks {text!r}"
        assert not os.path.exists(os.path.join(tmp, "out.usew"))


def test_sha256_keeps_real_files_and_rejects_fakes():
    need_shared("fixtures/use-lite/tfjs", "fixtures/use-lite/tfhub-lite2/assets")
    with tempfile.TemporaryDirectory() as tmp:
        stage(os.path.join(tmp, "stage"))
        proc, _ = download(tmp, "--from", os.path.join(tmp, "stage"))
        assert proc.returncode != 0
        for name in ("model.json", "vocab.json", SHARDS[6], SPM):  # full sha256
            assert f"ok {name}\n" in proc.stderr, name
        for name in SHARDS[:6]:  # hash prefix and suffix
            assert f"MISMATCH {name}:" in proc.stderr, name
        assert "6 file(s) failed verification" in proc.stderr
        kept = sorted(os.listdir(os.path.join(tmp, "dl", "tfjs")))
        assert kept == sorted(["model.json", "vocab.json", SHARDS[6]]), kept
        assert not os.path.exists(os.path.join(tmp, "out.usew"))

        # A second run keeps the verified files and goes on to download the missing ones (and fails).
        proc, seconds = download(tmp)
        assert "ok model.json (already in" in proc.stderr and "Offline install" in proc.stderr
        assert proc.returncode != 0 and seconds < 20


@common.quick
def test_sha256_rejects_a_flipped_byte():
    need_shared("fixtures/use-lite/tfjs", "fixtures/use-lite/tfhub-lite2/assets")
    with tempfile.TemporaryDirectory() as tmp:
        flipped = ("model.json", SHARDS[6], SPM)
        stage(os.path.join(tmp, "stage"), flip=flipped)
        proc, _ = download(tmp, "--from", os.path.join(tmp, "stage"))
        assert proc.returncode != 0
        for name in flipped:
            assert f"MISMATCH {name}:" in proc.stderr, name
        assert "ok vocab.json\n" in proc.stderr
        assert "9 file(s) failed verification" in proc.stderr


def test_from_folder_missing_a_file():
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "empty"))
        proc, _ = download(tmp, "--from", os.path.join(tmp, "empty"))
        assert proc.returncode != 0
        assert f"{tmp}/empty/model.json is missing" in proc.stderr


@common.quick
def test_says_what_the_checks_are_worth_and_warns_about_mirrors():
    """Shards 1-6 are checked against the 48 bits of sha256 that are published: the script says so every time, and
    warns loudly when the TF.js files come from USEREC_TFJS_URL rather than Google's storage (issue 13)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc, _ = download(tmp)  # USEREC_TFJS_URL points at a loopback port nobody listens on
        assert "only 48 bits of the sha256 are published" in proc.stderr, proc.stderr
        assert "WARNING: USEREC_TFJS_URL is set: the TF.js files come from http://127.0.0.1:9/tfjs" in proc.stderr
        assert "userec verify" in proc.stderr
    need_shared("fixtures/use-lite/tfjs", "fixtures/use-lite/tfhub-lite2/assets")
    with tempfile.TemporaryDirectory() as tmp:
        stage(os.path.join(tmp, "stage"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("USEREC_")}  # the official sources, unused
        proc = subprocess.run(["sh", SCRIPT, "--from", os.path.join(tmp, "stage"), "--dir", os.path.join(tmp, "dl"),
                               "-o", os.path.join(tmp, "out.usew")], capture_output=True, text=True, timeout=120,
                              env=env)
        assert "only 48 bits of the sha256 are published" in proc.stderr and "WARNING" not in proc.stderr, proc.stderr
