# Three racks; the Raft voters sit one per rack. The leader's whole rack is
# cut off for 20 s. Measured: how long the KV store has no leader, whether
# any client read a stale value (linearizability), whether two contenders
# ever believed they held the lock, and how membership sees the partition.
name        = "leader-partition"
description = "The Raft leader's rack is cut off for 20 s: KV unavailability, linearizability, lock safety."
nodes       = 30
start       = "warm"
settle_ms   = 10000
duration_ms = 60000
quiet_ms    = 60000

network {
  zones = ["rack-a", "rack-b", "rack-c"]
  links {
    default {
      latency_ms = { dist = "lognormal", median_ms = 1, sigma = 0.5, max = 50 }
    }
  }
}

raft {
  voters = 3
}

workload {
  kv {
    clients = 4
    keys    = 3
  }
  locks {
    contenders    = 3
    key           = "locks/leader"
    lock_delay_ms = 15000
  }
}

event {
  at_ms       = 15000
  action      = "partition"
  nodes       = "leader-zone"
  duration_ms = 20000
}

expect {
  # The cut-off rack declares the rest dead and vice versa: justified, not false.
  max_false_deaths = 0
  accurate_at_end  = true
}
