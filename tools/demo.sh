#!/bin/sh
# `make demo`: the main job on the bundled example catalogue (examples/products.csv), then on the real
# Myntra catalogue when ../shared has it, then the related items of a few products, and last the HTML report of
# the example catalogue (its path is the last line printed).
# Uses the real USE-lite weights when they can be downloaded; otherwise the deterministic test weights,
# whose neighbours mean nothing (said loudly below).
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
USEREC=${USEREC:-./userec}
OUT=$BUILD/demo
mkdir -p "$OUT"

model=weights/use-lite.usew
if [ ! -f "$model" ] && ! sh weights/download.sh >"$OUT/download.log" 2>&1; then
    model=$BUILD/testdata/use-lite-seed1.usew
    make -s test-model BUILD="$BUILD" SHARED="$SHARED"
    cat <<MSG
================================================================================
 demo: the real USE-lite weights could not be downloaded here (see $OUT/download.log),
 so this demo runs on the deterministic TEST weights ($model).
 The pipeline, the timings and the file formats are real; the NEIGHBOURS BELOW MEAN
 NOTHING. Run \`make weights\` on a machine with internet for real recommendations.
================================================================================
MSG
fi

echo "demo: embedding examples/products.csv"
"$USEREC" embed --model "$model" --input examples/products.csv --text-col name,description --id-col id \
    -o "$OUT/products.npy"

myntra=$SHARED/data/products/myntra_products_catalog.csv
if [ -f "$myntra" ]; then
    echo "demo: embedding the Myntra catalogue ($myntra)"
    "$USEREC" embed --model "$model" --input "$myntra" --text-col ProductName,Description --id-col ProductID \
        -o "$OUT/myntra.npy"
fi

echo "demo: related items of every example product -> $OUT/related.csv"
"$USEREC" related --emb "$OUT/products.npy" --ids "$OUT/products.ids" -k 10 -o "$OUT/related.csv"
python3 tools/show_related.py examples/products.csv "$OUT/related.csv" P0001 P0064 P0140 P0217

echo "demo: the report of the example catalogue: map, scores, sample lists, near-duplicates"
"$USEREC" report --catalog examples/products.csv --text-col name,description --id-col id --category-col category \
    --emb "$OUT/products.npy" --related "$OUT/related.csv" -o "$OUT/report.html" --quiet
echo "demo: report written: $(cd "$(dirname "$OUT/report.html")" && pwd)/report.html (open it in a browser)"
