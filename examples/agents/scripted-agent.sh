#!/bin/sh
# A SCRIPTED STAND-IN FOR AN LLM AGENT CLI, used by `orch demo`: no model, no
# network. orch starts it exactly as it starts a real agent (ORCH_AGENT_CMD,
# e.g. `claude -p --output-format json`): the prompt on stdin, the contract in
# the environment (ORCH_ROLE, ORCH_ARTIFACT, ORCH_VERDICT_KEY,
# ORCH_VERDICT_PASS, ...). It writes its artifact with the passing verdict and
# prints a result in Claude Code's `--output-format json` shape, with a made-up
# cost per role so that `orch roadmap` has figures to rank.
#
# The stand-in developer does one real thing: when the task was sent back
# (the prompt says why), it runs the checkout's fix-bug.sh, if there is one.
set -eu
prompt=$(cat)
cd "$ORCH_REPO_PATH"
case $ORCH_ROLE in
    analyst)   cost=0.021; turns=3 ;;
    architect) cost=0.034; turns=4 ;;
    developer) cost=0.118; turns=9 ;;
    reviewer)  cost=0.042; turns=3 ;;
    tester)    cost=0.051; turns=5 ;;
    deployer)  cost=0.036; turns=4 ;;
    *)         cost=0.01;  turns=1 ;;
esac
notes="Nothing to change."
if [ "$ORCH_ROLE" = developer ] && printf '%s' "$prompt" | grep -q 'Why this stage runs again'; then
    if [ -f fix-bug.sh ]; then
        sh fix-bug.sh
        notes="Fixed the failure the gate reported: calc.sh subtracted instead of adding."
    fi
fi
if [ "$ORCH_ROLE" = deployer ]; then
    # The LLM deployer's job, as its prompt says: run the staging suite.
    if sh ./staging.sh > /dev/null 2>&1; then value=PASSED; else value=FAILED; fi
else
    value=$ORCH_VERDICT_PASS
fi
sleep 0.05
printf '# %s\n\nWritten by the demo'"'"'s scripted stand-in agent (no LLM).\n\n%s\n\n%s: %s\n' \
    "$ORCH_ROLE" "$notes" "$ORCH_VERDICT_KEY" "$value" > "$ORCH_ARTIFACT"
printf '{"type":"result","subtype":"success","is_error":false,"num_turns":%s,"result":"done","total_cost_usd":%s,"usage":{"input_tokens":%s,"output_tokens":%s}}\n' \
    "$turns" "$cost" "$((turns * 1500))" "$((turns * 220))"
