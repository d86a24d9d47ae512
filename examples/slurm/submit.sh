#!/bin/bash
# The whole catalogue job on a Slurm cluster, four jobs chained with --dependency=afterok:
#   embed array (N shards) -> merge -> related array (N shards) -> merge
#   submit.sh N MODEL.usew INPUT OUTDIR [embed options]
# writes OUTDIR/vectors.npy, .ids, .rejects.tsv and OUTDIR/related.csv, exactly what one embed and one related
# run write. USEREC_RELATED_ARGS: related's options (default -k 10); USEREC, USEREC_DEVICE: as in the scripts;
# sbatch's own variables (SBATCH_PARTITION, SBATCH_ACCOUNT, ...) apply to every job. Prints the four job ids.
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: submit.sh N MODEL.usew INPUT OUTDIR [embed options]" >&2; exit 64; }
here=$(cd "$(dirname "$0")" && pwd)
n=$1 model=$2 input=$3 dir=$4
shift 4
mkdir -p "$dir"
submit() { sbatch --parsable "$@" | cut -d';' -f1; } # --parsable prints ID or ID;CLUSTER
embed=$(submit --array=1-"$n" "$here/embed.sbatch" "$model" "$input" "$dir/vectors.npy" "$@")
vectors=$(submit --dependency=afterok:"$embed" "$here/merge.sbatch" "$dir/vectors.npy")
# shellcheck disable=SC2086 # the related options are words
related=$(submit --array=1-"$n" --dependency=afterok:"$vectors" "$here/related.sbatch" "$dir/vectors.npy" \
    "$dir/vectors.ids" "$dir/related.csv" ${USEREC_RELATED_ARGS:--k 10})
lists=$(submit --dependency=afterok:"$related" "$here/merge.sbatch" "$dir/related.csv")
echo "$embed $vectors $related $lists"
