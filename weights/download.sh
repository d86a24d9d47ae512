#!/bin/sh
# Fetches the official USE-lite files, verifies their sha256 and converts them into weights/use-lite.usew.
#
# Usage: sh weights/download.sh [--from DIR] [--dir DIR] [-o FILE]
#   --from DIR  offline install: take the files from DIR instead of downloading them
#   --dir DIR   where the verified files are kept (default weights/download); files already there and
#               valid are not fetched again
#   -o FILE     the converted model (default weights/use-lite.usew)
# Environment: USEREC_TFJS_URL (TF.js files), USEREC_HUB_URL (TF Hub tar.gz) override the sources (a mirror:
# see the warning below and weights/README.md).
# Needs curl or wget, sha256sum, tar, python3.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TFJS_URL=${USEREC_TFJS_URL:-https://storage.googleapis.com/tfjs-models/savedmodel/universal_sentence_encoder}
HUB_URL=${USEREC_HUB_URL:-https://tfhub.dev/google/universal-sentence-encoder-lite/2?tf-hub-format=compressed}
DIR=$ROOT/weights/download
OUT=$ROOT/weights/use-lite.usew
FROM=
SPM=universal_encoder_8k_spm.model
SPM_BYTES=414912
SPM_SHA256=712eb3d2802844084619ef5780e17846e203d3165144832425a11bbcea9de1bb
# name, bytes, sha256 (fixtures/SOURCES.md). Only both ends of the shard 1-6 hashes are published:
# PREFIX...SUFFIX checks those ends.
TFJS_FILES='model.json 247026 507d11df18b070f99e0ad650b9a4e6534a4cfb05040127e8ce579f00c8fa3b53
vocab.json 218327 1ad860b9720c16cd48e666d664a556b2515c04f5a26a4b53c0372427913b1b8e
group1-shard1of7 4194304 8775e61b...7412
group1-shard2of7 4194304 deaf897e...65bd
group1-shard3of7 4194304 50ee49b0...c936
group1-shard4of7 4194304 c1a50daa...d596
group1-shard5of7 4194304 410cde30...ec6b
group1-shard6of7 4194304 83ef116b...088b
group1-shard7of7 2737832 a29a5e08ee3afd839250b9187b89f1d3163749b5b1807bb175341a16c6012689'

say() { echo "download.sh: $*" >&2; }
die() { say "$*"; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --from) [ $# -ge 2 ] || die "--from needs a folder"; FROM=$2; shift 2 ;;
        --dir) [ $# -ge 2 ] || die "--dir needs a folder"; DIR=$2; shift 2 ;;
        -o) [ $# -ge 2 ] || die "-o needs a file name"; OUT=$2; shift 2 ;;
        *) die "unknown argument '$1' (usage: sh weights/download.sh [--from DIR] [--dir DIR] [-o FILE])" ;;
    esac
done
[ -z "$FROM" ] || [ -d "$FROM" ] || die "--from $FROM: no such folder"
TFJS_DIR=$DIR/tfjs
mkdir -p "$TFJS_DIR" || die "cannot create $TFJS_DIR"

offline_help() {
    cat >&2 <<EOF
download.sh: cannot download $1 (no internet access?).
Offline install: on a machine with internet access, download these 9 files
    $TFJS_URL/model.json
    $TFJS_URL/vocab.json
    $TFJS_URL/group1-shard1of7 ... $TFJS_URL/group1-shard7of7  (7 files)
and, for SentencePiece-exact tokenization (optional), assets/$SPM from the tar.gz at
    $HUB_URL
Then either copy the 9 files into $TFJS_DIR/ and $SPM into $DIR/ and run 'make weights' again,
or put all 10 files into one folder DIR and run: sh weights/download.sh --from DIR
EOF
}

# fetch URL DEST: downloads, giving up after 5 s without a connection or 30 s below 1 KB/s.
fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --connect-timeout 5 --speed-limit 1024 --speed-time 30 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -nv --connect-timeout=5 --read-timeout=30 --tries=1 -O "$2" "$1"
    else
        die "neither curl nor wget is installed"
    fi
}

sha256_of() {
    sha256sum "$1" | cut -d' ' -f1
}

# verify FILE BYTES SHA256: succeeds when the size and the (full, or PREFIX...SUFFIX) hash match.
verify() {
    [ "$(wc -c <"$1" | tr -d ' ')" = "$2" ] || return 1
    actual=$(sha256_of "$1")
    case $3 in
        *...*) case $actual in "${3%%...*}"*"${3##*...}") return 0 ;; esac; return 1 ;;
        *) [ "$actual" = "$3" ] ;;
    esac
}

# obtain NAME DEST BYTES SHA256 URL: puts a verified copy of NAME at DEST (kept if already valid).
# Returns 1 when the file fetched or copied fails verification, exits when it cannot be had at all.
obtain() {
    if [ -f "$2" ] && verify "$2" "$3" "$4"; then
        say "ok $1 (already in $(dirname "$2"))"
        return 0
    fi
    if [ -n "$FROM" ]; then
        [ -f "$FROM/$1" ] || die "$FROM/$1 is missing (an offline install needs all 9 tfjs files there)"
        cp "$FROM/$1" "$2.part" || die "cannot copy $FROM/$1 to $2.part"
    elif ! fetch "$5" "$2.part"; then
        rm -f "$2.part"
        offline_help "$5"
        exit 1
    fi
    if verify "$2.part" "$3" "$4"; then
        mv "$2.part" "$2" || die "cannot rename $2.part"
        say "ok $1"
        return 0
    fi
    say "MISMATCH $1: expected $3 bytes with sha256 $4, got $(wc -c <"$2.part" | tr -d ' ') bytes with sha256 $(sha256_of "$2.part")"
    rm -f "$2.part"
    return 1
}

# Say what the checks are worth before anything is fetched.
say "note: model.json, vocab.json, shard 7 and $SPM are checked against their full sha256; for shards 1-6"
say "      only 48 bits of the sha256 are published (8 leading and 4 trailing hex digits), so only those are"
say "      checked: enough against damage, not against a source that chooses its bytes. 'make weights' ends"
say "      with 'userec verify', which checks the converted model against the real model's published outputs."
if [ -z "$FROM" ] && [ -n "${USEREC_TFJS_URL:-}" ]; then
    say "WARNING: USEREC_TFJS_URL is set: the TF.js files come from $TFJS_URL, not from Google's official"
    say "WARNING: storage. Shards 1-6 from there are checked against 48 bits of their sha256 only, which a"
    say "WARNING: determined mirror can match with bytes of its choosing. Trust this model only if"
    say "WARNING: 'userec verify weights/use-lite.usew' says it is the real USE-lite."
fi
if [ -z "$FROM" ] && [ -n "${USEREC_HUB_URL:-}" ]; then
    say "note: USEREC_HUB_URL is set: $SPM comes from $HUB_URL (checked against its full sha256)"
fi

bad=0
# The here-document keeps the loop in this shell, so obtain's exit and $bad work.
while read -r name bytes sha; do
    obtain "$name" "$TFJS_DIR/$name" "$bytes" "$sha" "$TFJS_URL/$name" || bad=$((bad + 1))
done <<EOF
$TFJS_FILES
EOF

# The SentencePiece model lives in the TF Hub TF1 module's tar.gz; without it the .usew file carries the
# TF.js tokenizer only.
spm_path=$DIR/$SPM
if [ -f "$spm_path" ] && verify "$spm_path" $SPM_BYTES $SPM_SHA256; then
    say "ok $SPM (already in $DIR)"
elif [ -n "$FROM" ] && [ -f "$FROM/$SPM" ]; then
    obtain "$SPM" "$spm_path" $SPM_BYTES $SPM_SHA256 "" || bad=$((bad + 1))
elif [ -n "$FROM" ]; then
    say "no $SPM in $FROM: converting with the TF.js tokenizer only"
    spm_path=
else
    hub=$DIR/hub
    rm -rf "$hub" && mkdir -p "$hub" || die "cannot create $hub"
    if fetch "$HUB_URL" "$hub/module.tar.gz" && tar -xzf "$hub/module.tar.gz" -C "$hub" \
        && [ -f "$hub/assets/$SPM" ] && verify "$hub/assets/$SPM" $SPM_BYTES $SPM_SHA256; then
        mv "$hub/assets/$SPM" "$spm_path" || die "cannot move $SPM to $DIR"
        say "ok $SPM"
    else
        say "could not get a valid assets/$SPM from $HUB_URL: converting with the TF.js tokenizer only"
        spm_path=
    fi
    rm -rf "$hub"
fi

[ $bad -eq 0 ] || die "$bad file(s) failed verification and were not kept: fetch them again (see above)"

if [ -n "$spm_path" ]; then
    python3 "$ROOT/tools/convert.py" "$TFJS_DIR" -o "$OUT" --spm-model "$spm_path"
else
    python3 "$ROOT/tools/convert.py" "$TFJS_DIR" -o "$OUT"
fi
say "wrote $OUT"
