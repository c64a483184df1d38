#!/usr/bin/env bash
# The instruction-count guard (issue 16): what one linkage, one replica import of 10,000 rows
# and one permit cost in instructions, counted by callgrind (valgrind) — a measure the shared,
# noisy machine cannot move — against the baseline in bench/icount-baseline.txt. Fails when any
# rises more than 10 % above its baseline; says so (and passes) when one falls more than 10 %
# below, so that the baseline is lowered with the change that earned it.
#   usage: icount_test.sh CHUKAN_BIN BASELINE LAYOUT_DIR PERMISSIONS_FILE
# `chukan bench icount` runs the work in one process (an in-process network; a hub object),
# each measured window followed by an idle window of the same length, whose count (the timers
# of the idle threads) is subtracted.
set -euo pipefail
bin=$1 baseline=$2 layout=$3 permissions=$4
command -v valgrind >/dev/null || { echo "icount: valgrind is not installed (scripts/install-deps)"; exit 1; }
work=$(mktemp -d /tmp/chukan-icount-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/net"
if ! valgrind --tool=callgrind --instr-atstart=no --fair-sched=yes --callgrind-out-file="$work/cg.out" \
    "$bin" bench icount --workdir "$work/net" --layout "$layout" --permissions "$permissions" \
    > "$work/run.log" 2>&1; then
  echo "icount: the run failed:"; tail -40 "$work/run.log"; exit 1
fi
grep -E "^icount" "$work/run.log" || true
# Each dump: "desc: Trigger: Client Request: <what> work|idle <count> <round>" and "totals: N".
declare -A work_ir idle_ir per_count
for f in "$work"/cg.out.*; do
  read -r what kind count round < <(sed -n 's/^desc: Trigger: Client Request: //p' "$f")
  ir=$(sed -n 's/^totals: //p' "$f")
  [ -n "$what" ] && [ -n "$round" ] && [ -n "$ir" ] || { echo "icount: cannot read $f"; exit 1; }
  per_count[$what]=$count
  if [ "$kind" = work ]; then work_ir[$what.$round]=$ir; else idle_ir[$what.$round]=$ir; fi
done
# The median over the rounds of (work − idle) / count.
each_of() {
  local what=$1 r values=()
  for r in 1 2 3; do
    [ -n "${work_ir[$what.$r]:-}" ] && [ -n "${idle_ir[$what.$r]:-}" ] || return 1
    values+=($(( (work_ir[$what.$r] - idle_ir[$what.$r]) / per_count[$what] )))
  done
  printf '%s\n' "${values[@]}" | sort -n | sed -n 2p
  echo "${values[*]}" >&2
}
status=0
while read -r what base; do
  case "$what" in ''|'#'*) continue ;; esac
  if ! each=$(each_of "$what" 2>"$work/rounds"); then echo "[NG] icount: no count for $what"; status=1; continue; fi
  ratio=$(awk -v e="$each" -v b="$base" 'BEGIN { printf "%.3f", e / b }')
  line=$(printf "%-8s %12d instructions each (baseline %12d, %s×; rounds %s; n %d)" \
    "$what" "$each" "$base" "$ratio" "$(tr ' ' / < "$work/rounds")" "${per_count[$what]}")
  if awk -v r="$ratio" 'BEGIN { exit !(r > 1.10) }'; then
    echo "[NG] $line: more than 10 % above the baseline"; status=1
  elif awk -v r="$ratio" 'BEGIN { exit !(r < 0.90) }'; then
    echo "[OK] $line: more than 10 % below — lower the baseline in $baseline"
  else
    echo "[OK] $line"
  fi
done < "$baseline"
exit $status
