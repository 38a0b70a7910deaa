//! One file per command; each exposes `Args` and `run`.

pub mod demo;
pub mod login;
pub mod logout;
pub mod serve;
pub mod status;
pub mod stdio;
