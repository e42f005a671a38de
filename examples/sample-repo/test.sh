#!/bin/sh
# The sample project's own tests (`repo add --test-cmd "sh ./test.sh"`): what
# orch's test runner runs at the testing stage. Exit 0 only when every test
# passes; the runner maps that exit code to `test_status: PASSED`, anything
# else to FAILED, exactly as the staging runner does for staging.sh.
set -u
failed=0
expect() {
    got=$(sh ./calc.sh "$1" "$2" 2>&1)
    if [ "$got" = "$3" ]; then
        printf 'ok    calc %s %s = %s\n' "$1" "$2" "$got"
    else
        printf 'FAIL  calc %s %s: expected %s, got %s\n' "$1" "$2" "$3" "$got"
        failed=$((failed + 1))
    fi
}
expect 1 1 2
expect 2 2 4
expect 10 -3 7
if [ "$failed" -gt 0 ]; then
    echo "$failed test(s) failed"
    exit 1
fi
echo "all tests passed"
