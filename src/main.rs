//! ward: one static binary for FROM-scratch and distroless images. `main` holds no logic: the
//! process entry point (in `sys::entry`, because ward bypasses the Rust runtime's start-up)
//! calls [`run`], which hands argv to the applet table.

#![cfg_attr(not(test), no_main)]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
// The real entry point is compiled out of unit-test builds, which would otherwise flag
// everything it reaches as unused.
#![cfg_attr(test, allow(dead_code))]

mod applet;
mod check;
mod cli;
mod error;
mod exit;
#[cfg(test)]
mod fuzz;
mod grpc_probe;
mod health;
mod init;
mod log;
mod redact;
#[allow(unsafe_code)]
mod sys;
mod wait;

use std::ffi::OsString;

/// Runs ward with its full argv and returns the process exit code.
pub fn run(args: Vec<OsString>) -> u8 {
    applet::dispatch(args)
}
