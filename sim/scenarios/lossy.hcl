# Packet loss climbing from 1% to 50% in steps of 30 s, with one agent killed
# in each step: detection time and false deaths as the network degrades.
# Probes travel as datagrams (memberlist's UDP semantics: a lost packet is
# gone); the gossip overlay runs over TCP, where loss becomes retransmission
# delay. Lifeguard is what keeps healthy members alive at 25% and 50%.
name        = "lossy"
description = "Packet loss rising 1% -> 5% -> 10% -> 25% -> 50%, one crash per step: detection time and false deaths as the network degrades."
nodes       = 100
start       = "warm"
settle_ms   = 10000
duration_ms = 150000
quiet_ms    = 60000

network {
  probe_transport = "datagram"
}

event {
  at_ms       = 0
  action      = "loss"
  rate        = 0.01
  duration_ms = 30000
}
event {
  at_ms       = 30000
  action      = "loss"
  rate        = 0.05
  duration_ms = 30000
}
event {
  at_ms       = 60000
  action      = "loss"
  rate        = 0.10
  duration_ms = 30000
}
event {
  at_ms       = 90000
  action      = "loss"
  rate        = 0.25
  duration_ms = 30000
}
event {
  at_ms       = 120000
  action      = "loss"
  rate        = 0.50
  duration_ms = 30000
}
event {
  at_ms  = 5000
  action = "crash"
  nodes  = "random:1"
}
event {
  at_ms  = 35000
  action = "crash"
  nodes  = "random:1"
}
event {
  at_ms  = 65000
  action = "crash"
  nodes  = "random:1"
}
event {
  at_ms  = 95000
  action = "crash"
  nodes  = "random:1"
}
event {
  at_ms  = 125000
  action = "crash"
  nodes  = "random:1"
}

expect {
  # At 50% loss a probe and all three indirect paths fail about one time in
  # twenty; Lifeguard stretches the suspicion, but a few false deaths remain.
  max_false_deaths = 1000000
  accurate_at_end  = true
}
