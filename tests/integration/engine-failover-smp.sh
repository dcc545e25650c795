#!/bin/sh
# engine-failover-smp.sh - engine-failover.sh with a 2-vCPU guest
# (10 trials): output commit and failover hold with SMP guests too.  Its
# disk is set up with -drive (a named BlockBackend); the other tests use
# -blockdev, as libvirt does.
KT_NAME=engine-failover-smp KT_SMP=2 KT_TRIALS=${KT_TRIALS:-10} \
KT_DISK_STYLE=drive \
    exec sh "${top_srcdir:-.}/tests/integration/engine-failover.sh"
