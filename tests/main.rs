//! ward's integration tests: one target, so the binary is linked once. Every test runs the real
//! binary: init as PID 1 of a fresh PID namespace and as a subreaper, under every name it is
//! installed as. A test that needs a capability the machine lacks fails with one line naming it:
//! nothing is skipped unseen (leave a group out with `cargo test -- --skip docker::`).

#[path = "../src/fuzz/mutate.rs"]
mod mutate;
mod servers;
mod util;

mod bad_input;
mod db;
mod dispatch;
mod docker;
mod fuzz;
mod grpc;
mod health;
mod init_health;
mod init_pid1;
mod init_process;
mod init_signals;
mod init_tty;
mod tini;
mod tls;
mod wait;
