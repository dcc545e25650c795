#!/bin/sh
# engine-failover-replicated.sh - engine-failover.sh with a replicated
# disk (10 trials): no image is shared; each secondary gets its copy from
# the primary while the guest runs, and takes over with it.
KT_NAME=engine-failover-replicated KT_REPLICATED=1 \
KT_TRIALS=${KT_TRIALS:-10} \
    exec sh "${top_srcdir:-.}/tests/integration/engine-failover.sh"
