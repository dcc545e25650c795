#!/bin/sh
# engine-failover-smp.sh - engine-failover.sh with a 2-vCPU guest
# (10 trials): output commit and failover hold with SMP guests too.
KT_NAME=engine-failover-smp KT_SMP=2 KT_TRIALS=${KT_TRIALS:-10} \
    exec sh "${top_srcdir:-.}/tests/integration/engine-failover.sh"
