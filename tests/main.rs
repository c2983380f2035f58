//! ward's integration tests: one target, so the binary is linked once. Every test runs the real
//! binary: init as PID 1 of a fresh PID namespace and as a subreaper, under every name it is
//! installed as. Tests that need a capability the machine lacks skip visibly by hand and fail
//! under WARD_REQUIRE_ALL=1 (CI).

mod servers;
mod util;

mod dispatch;
mod docker;
mod health;
mod init_pid1;
mod init_process;
mod init_signals;
mod init_tty;
mod tini;
mod wait;
