#!/bin/sh
# tests/gpu/prepare_device_data.sh [DATA_DIR]: gathers what tests/gpu/device_check.sh needs on a GPU machine
# that has no ../shared and no package archive. Run it from the repo root on a machine that has both:
#   DATA_DIR/use-lite-seed1.usew  the deterministic test model (SPEC 2.3, `make test-model`)
#   DATA_DIR/myntra.ids           the Myntra catalogue's products ("name. description") as SentencePiece token ids,
#                                 tokenised by `userec tokenize`: the real-text workload of the tests and the bench
#   DATA_DIR/debs/                Debian packages of the build's libraries (OpenBLAS, utf8proc); device_check.sh
#                                 unpacks them only where the GPU machine lacks the headers
# DATA_DIR defaults to .gpu-data (git-ignored); carry it to the GPU machine with the working tree.
# Only derived files land there: the model built by tools/, token ids; no text of ../shared is copied.
set -eu
cd "$(dirname "$0")/../.."
DATA=${1:-.gpu-data}
SHARED=${SHARED:-../shared}
PY=${PY:-/usr/bin/python3}
BUILD=${BUILD:-${TMPDIR:-/tmp}/userec-gpu-prepare} # a CPU build of its own: tokenizer and model only
CATALOGUE=$SHARED/data/products/myntra_products_catalog.csv

mkdir -p "$DATA/debs"
make -s CUDA=0 BUILD="$BUILD" BIN="$BUILD/userec" SHARED="$SHARED" "$BUILD/userec" test-model
cp "$BUILD/testdata/use-lite-seed1.usew" "$DATA/use-lite-seed1.usew"

"$PY" - "$CATALOGUE" <<'PYEOF' | "$BUILD/userec" tokenize --model "$DATA/use-lite-seed1.usew" --input - >"$DATA/myntra.ids.part"
import csv
import sys

with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        print(" ".join(f"{row['ProductName']}. {row['Description']}".split()))
PYEOF
mv "$DATA/myntra.ids.part" "$DATA/myntra.ids"

if (cd "$DATA/debs" && apt-get download -q libopenblas0-pthread libopenblas-pthread-dev libgfortran5 libutf8proc2 \
    libutf8proc-dev >/dev/null 2>&1); then
    echo "prepare: Debian packages in $DATA/debs"
else
    echo "prepare: apt-get download failed: the GPU machine must have OpenBLAS and utf8proc headers itself" >&2
fi
echo "prepare: $(wc -l <"$DATA/myntra.ids") catalogue sentences, $(wc -w <"$DATA/myntra.ids") tokens; $(du -sh "$DATA" | cut -f1) in $DATA"
