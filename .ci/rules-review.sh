#!/usr/bin/env bash
# The rules pull-request review, as the GitHub workflow (.github/workflows/rules-review.yml) and the
# GitLab job (.gitlab-ci.yml) run it; tests/review/test_ci_files.py runs it locally.
#
# Environment: BASE_REF (the base branch ref, e.g. origin/main), RULES (default rules),
# RECORDED_DB (an audit log exported from production: `rules impact` replays it), else
# REPLAY (event files or a directory replayed instead; default sample-events),
# OUT (where reports go; default ci-out), SUMMARY (a file the Markdown is appended to, e.g.
# $GITHUB_STEP_SUMMARY; default $OUT/summary.md), BUDGET (default impact-budget.yaml).
# Event data and refs only ever reach commands as quoted arguments.
set -uo pipefail
: "${BASE_REF:?set BASE_REF to the pull request base, e.g. origin/main}"
RULES=${RULES:-rules}
REPLAY=${REPLAY:-sample-events}
OUT=${OUT:-ci-out}
SUMMARY=${SUMMARY:-$OUT/summary.md}
BUDGET=${BUDGET:-impact-budget.yaml}
mkdir -p "$OUT"
status=0

# 1. validate: every problem in the log, annotations only on changed lines (at most 10)
rules validate "$RULES" --format json > "$OUT/diagnostics.json" || status=1
python3 -m engine.run.review.annotate --base "$BASE_REF" "$OUT/diagnostics.json" || status=1
rules validate "$RULES" || true   # the readable form, file:line:col, for the log

# 2. test, with JUnit and coverage (Cobertura) for the artifacts (text in the log: the annotations stay
#    those of changed rule lines)
rules test "$RULES" --rules "$RULES" --junit "$OUT/rules-test.xml" --coverage \
  --coverage-format cobertura --coverage-out "$OUT/coverage.xml" --threshold 95 || status=1

# 3. impact of the change on recorded events, as the job summary (and the sticky comment's body)
budget_args=()
[ -f "$BUDGET" ] && budget_args=(--budget "$BUDGET")
if [ -n "${RECORDED_DB:-}" ]; then
  source_args=(--db "$RECORDED_DB")              # recorded verdicts, acks and history
else
  source_args=(--events "$REPLAY" --model none)
fi
rules impact --base "$BASE_REF" --rules "$RULES" "${source_args[@]}" --format markdown \
  --html "$OUT/impact.html" "${budget_args[@]}" > "$OUT/impact.md" || status=1
cat "$OUT/impact.md" >> "$SUMMARY"
exit $status
