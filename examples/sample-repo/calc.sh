#!/bin/sh
# calc.sh A B: prints A + B. The demo's sample project.
set -eu
echo $(( $1 + $2 ))
