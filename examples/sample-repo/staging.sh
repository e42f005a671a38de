#!/bin/sh
# The sample project's staging suite: a handful of real checks of calc.sh.
# Exit 0 only when every check passes; orch's staging runner maps that exit
# code to `staging_status: PASSED`, anything else to FAILED.
set -u
failed=0
check() {
    got=$(sh ./calc.sh "$1" "$2")
    if [ "$got" = "$3" ]; then
        printf 'ok    %s + %s = %s\n' "$1" "$2" "$got"
    else
        printf 'FAIL  %s + %s: expected %s, got %s\n' "$1" "$2" "$3" "$got"
        failed=$((failed + 1))
    fi
}
check 2 3 5
check 0 0 0
check 40 2 42
check -7 7 0
if [ "$failed" -gt 0 ]; then
    echo "$failed check(s) failed"
    exit 1
fi
echo "all checks passed"
