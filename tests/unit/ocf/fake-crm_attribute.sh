#!/bin/sh
# fake-crm_attribute.sh - a stand-in for crm_attribute in the OCF
# agent's tests: logs its argv to $FAKE_WORLD/log and keeps the promotion
# score it was given in $FAKE_WORLD/score ("deleted" after -D).
w=${FAKE_WORLD:?FAKE_WORLD is not set}
echo "crm_attribute $*" >> "$w/log"
while [ $# -gt 0 ]; do
    case $1 in
    -D|--delete) echo deleted > "$w/score" ;;
    -v|--update) echo "$2" > "$w/score"; shift ;;
    esac
    shift
done
exit 0
