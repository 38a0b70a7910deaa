//! "Try the demo" in the dashboard: the core's simulated deployment, the
//! same as `coder-bridge demo` (see `bridge::demo`).

pub use bridge::demo::SimLauncher;
