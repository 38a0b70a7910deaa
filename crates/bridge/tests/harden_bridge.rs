//! Hardening of the core, proven against a real bridge and the simulated
//! Coder: load with faults, the local attack surface, and property tests of
//! request handling and config merging. `HARDEN_CALLS` and `PROPTEST_CASES`
//! scale the load and the property tests up for longer runs.

#[path = "harden_bridge/environment.rs"]
mod environment;
#[path = "harden_bridge/load.rs"]
mod load;
#[path = "harden_bridge/props.rs"]
mod props;
// Shared with harden_secrets.rs; each binary uses part of it.
#[allow(dead_code)]
#[path = "harden_bridge/rig.rs"]
mod rig;
#[path = "harden_bridge/surface.rs"]
mod surface;
