//! A simulated Coder deployment for tests and demo mode.
