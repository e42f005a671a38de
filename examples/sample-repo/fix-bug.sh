#!/bin/sh
# What the demo's stand-in developer does on a rollback: it restores the
# addition in calc.sh (the bug the staging suite caught was a subtraction).
set -eu
sed 's/\$1 - \$2/$1 + $2/' calc.sh > calc.sh.new && mv calc.sh.new calc.sh
