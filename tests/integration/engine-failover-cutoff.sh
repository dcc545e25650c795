#!/bin/sh
# engine-failover-cutoff.sh - engine-failover.sh with the primary frozen
# instead of killed (5 trials): the secondary takes over while the old
# primary is alive and its checkpoint stream open but silent, as behind
# a network partition, and held disk writes are replayed meanwhile.
KT_NAME=engine-failover-cutoff KT_CUTOFF=1 KT_TRIALS=${KT_TRIALS:-5} \
    exec sh "${top_srcdir:-.}/tests/integration/engine-failover.sh"
