#!/usr/bin/env bash
# `chukan demo --serve` as a test: the walkthrough passes (ALL OK), then the network runs again
# with the printed console URLs and logins — each server's login page answers, and the printed
# one-time password of each tenant's demo member is accepted (the console moves on to the
# second factor) — and Ctrl-C (SIGINT) stops everything with exit 0.
# Usage: demo_serve_test.sh CHUKAN_BINARY LAYOUT_DIR PERMISSIONS_FILE
set -euo pipefail
bin=$1 layout=$2 permissions=$3
out=$(mktemp)
jar=$(mktemp)
trap 'rm -f "$out" "$jar"; [[ -n "${pid:-}" ]] && kill -9 "$pid" 2>/dev/null || true' EXIT
"$bin" demo --serve --layout "$layout" --permissions "$permissions" >"$out" 2>&1 &
pid=$!
for _ in $(seq 1 240); do
  grep -q "press Ctrl-C to stop" "$out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$out"; echo "demo exited early"; exit 1; }
  sleep 1
done
grep -q "ALL OK" "$out" || { cat "$out"; echo "the walkthrough did not pass"; exit 1; }
grep -q "press Ctrl-C to stop" "$out" || { cat "$out"; echo "no serve banner"; exit 1; }
logins=0
url=""
org=""
while IFS= read -r line; do
  if [[ $line =~ (http://127\.0\.0\.1:[0-9]+)/console/login ]]; then url=${BASH_REMATCH[1]}; fi
  if [[ $line =~ organisation:\ ([0-9]{16}) ]]; then org=${BASH_REMATCH[1]}; fi
  if [[ $line =~ one-time\ password:\ ([A-Za-z0-9]+) ]]; then
    password=${BASH_REMATCH[1]}
    rm -f "$jar"
    page=$(curl -s -c "$jar" "$url/console/login")
    [[ $page == *"<h1>ログイン</h1>"* ]] || { echo "no login page at $url"; exit 1; }
    token=$(grep -o 'name="login_csrf" value="[^"]*"' <<<"$page" | sed 's/.*value="//; s/"$//')
    answer=$(curl -s -b "$jar" -o /dev/null -w "%{http_code} %{redirect_url}" \
      -H "Sec-Fetch-Site: same-origin" \
      --data-urlencode "login_csrf=$token" --data-urlencode "org=$org" \
      --data-urlencode "login=demo" --data-urlencode "password=$password" "$url/console/login")
    [[ $answer == "303 $url/console/totp" ]] || { echo "login of $org: $answer"; exit 1; }
    logins=$((logins + 1))
  fi
done <"$out"
[[ $logins -eq 3 ]] || { cat "$out"; echo "expected 3 demo logins, got $logins"; exit 1; }
kill -INT "$pid"
code=0
wait "$pid" || code=$?
pid=""
[[ $code -eq 0 ]] || { tail -5 "$out"; echo "exit $code after SIGINT"; exit 1; }
grep -q "停止します / stopping" "$out"
echo "demo --serve: 3 console logins accepted, stopped cleanly"
