#!/usr/bin/env bash
# The issue-12 campaign on the scenes, end to end, two training processes at a time (a 2-core machine):
#   1. the six presets and six random "stages" configs, seed 0, proxy and long budgets (scenes_ranking.py);
#   2. a real search on the scenes (espnas search: TPE, stages space, accuracy and conv MACs, proxy budget);
#   3. the search's front at both budgets, and the presets' seeds 1 and 2 at the long budget (seed noise);
#   4. the figures: merge and summarise, the MO-ASHA replay, the front against the presets.
#
#   bash benchmarks/scenes_campaign.sh [OUT]          # the measured scale: about 80 min on 2 idle cores
#   SMALL=1 bash benchmarks/scenes_campaign.sh [OUT]  # the same shape in about 5 minutes (figures are noise)
#   SPACE=stages bash benchmarks/scenes_campaign.sh   # on today's stages space instead of the measured one
#
# SPACE (default: the stages space as it was when the campaign was measured, kept in benchmarks/data) is where
# the random configs are drawn from and what the search searches.
# Every step appends to its JSON file as it finishes, so an interrupted campaign re-run with the same OUT
# picks up where it stopped (the search resumes with --resume).
set -euo pipefail
OUT=${1:-runs/scenes-campaign}
mkdir -p "$OUT"
PY=${PYTHON:-python}
SPACE=${SPACE:-benchmarks/data/scenes_campaign/stages-2026-12-01.toml}
export OMP_NUM_THREADS=1
if [[ -n "${SMALL:-}" ]]; then
    PE=1 S=(--configs 8 --seeds 3 --long-epochs 3 --n-train 256 --n-val 200)
    TRIALS=3 A=espnetv2-0.5,stages-0,espnetv2-1.25 B=espnetv2-1.0,stages-1,espnetv2-1.5
    QA2=espnetv2-0.5 QA1=stages-0 QB1P=espnetv2-0.5,espnetv2-1.0 QB1=stages-1 QB2=espnetv2-1.0
else
    PE=2 S=(--configs 12 --seeds 3 --long-epochs 6 --n-train 2000 --n-val 1000)
    TRIALS=14
    A=espnetv2-2.0,espnetv2-0.5,espnetv2-1.25,stages-1,stages-4,stages-2
    B=espnetv2-1.75,espnetv2-1.0,espnetv2-1.5,stages-0,stages-3,stages-5
    # queue A: the front, then these; queue B: these (balanced by the seconds of seed 0)
    QA2=espnetv2-0.5,espnetv2-1.0,espnetv2-1.25,espnetv2-1.5 QA1=stages-0,stages-1,stages-2
    QB1P=espnetv2-0.5,espnetv2-1.0,espnetv2-1.25,espnetv2-1.5,espnetv2-1.75,espnetv2-2.0 QB1=stages-3,stages-4,stages-5
    QB2=espnetv2-1.75,espnetv2-2.0
fi
R=("$PY" benchmarks/scenes_ranking.py "${S[@]}" --proxy-epochs "$PE" --space "$SPACE")

# 1. seed 0, both budgets, the configs split over two processes
"${R[@]}" --only-seed 0 --only "$A" --out "$OUT/s0a.json" > "$OUT/s0a.log" &
"${R[@]}" --only-seed 0 --only "$B" --out "$OUT/s0b.json" > "$OUT/s0b.log"
wait

# 2. the search, alone on the machine (two trials at a time: no objective is measured on this CPU)
SEARCH=("$PY" -m nas search "$SPACE" --data scenes --proxy-recipe proxy-adam --proxy-epochs "$PE" --objectives accuracy,macs
        --trials "$TRIALS" --seed 0 --run-dir "$OUT/search" --no-progress)
if [[ -f "$OUT/search/run.json" ]]; then "${SEARCH[@]}" --resume; else "${SEARCH[@]}"; fi > "$OUT/search.log"

# 3. the search's front at both budgets (seed 0); the presets' seeds 1 and 2 and the stages configs' seed 1 at
#    the long budget (seed noise), in two queues of about equal length
FRONT=$("$PY" -c "import sys, pathlib; sys.path.insert(0, 'benchmarks'); from scenes_ranking import searched_front
print(','.join(n for n, _ in searched_front(pathlib.Path('$OUT/search'))))")
L=("${R[@]}" --budgets long)
{
    "${R[@]}" --only-seed 0 --from-run "$OUT/search" --only "$FRONT" --out "$OUT/front.json"
    "${L[@]}" --only-seed 2 --only "$QA2" --out "$OUT/s2a.json"
    "${L[@]}" --only-seed 1 --only "$QA1" --out "$OUT/s1a.json"
} > "$OUT/qa.log" &
{
    "${R[@]}" --only-seed 1 --only "$QB1P" --out "$OUT/s1p.json"   # both budgets: the proxy's seed noise too
    "${L[@]}" --only-seed 1 --only "$QB1" --out "$OUT/s1b.json"
    "${L[@]}" --only-seed 2 --only "$QB2" --out "$OUT/s2b.json"
} > "$OUT/qb.log"
wait

# 4. the figures
"${R[@]}" --merge "$OUT"/s0a.json "$OUT"/s0b.json "$OUT"/front.json "$OUT"/s1?.json "$OUT"/s2?.json \
    --out "$OUT/merged.json" | tee "$OUT/summary.txt"
"$PY" benchmarks/mo_asha_replay.py --results "$OUT/merged.json" --orders 20 --zero-cost naswot | tee "$OUT/replay.txt"
"$PY" benchmarks/beat_the_paper.py --results "$OUT/merged.json" --search-run "$OUT/search" | tee "$OUT/beat.txt"
