//! The `coder-bridge` binary as users and agents run it, one test binary:
//! each module checks one command or one promise in a temp HOME, against
//! the simulated Coder; `support` holds what they share.

mod support;

mod bad_environment;
mod configure;
mod configure_e2e;
mod consent;
mod daemon_faults;
mod log_output;
mod login;
mod loopback_proxy;
mod no_daemon;
mod open;
mod private_files;
mod serve_and_stdio;
mod signin_on_demand;
