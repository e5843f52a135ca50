#!/bin/bash
# Slurm array job: each array task runs one shard of the manifest, single-threaded, and a
# killed or preempted task is simply resubmitted (finished items are skipped).
#
#   sbatch --array=0-15 docs/batch/slurm-array.sh photos.jsonl /shared/sketches
#
#SBATCH --job-name=clipascene
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=04:00:00
#SBATCH --requeue
set -euo pipefail
manifest=${1:?manifest (JSON Lines)}
out=${2:?output folder (shared by all tasks)}
exec clipascene batch "$manifest" --out "$out" \
  --shard "${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}" --threads "${SLURM_CPUS_PER_TASK:-1}"
