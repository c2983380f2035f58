//! The only module where `unsafe` is allowed. Everything that touches signal state, process
//! state or raw pointers from the C runtime lives here behind safe functions; each unsafe block
//! says why it is sound in a `// SAFETY:` comment. Code that runs between fork and exec is
//! marked as such and makes async-signal-safe system calls only.

pub mod entry;
pub mod net;
pub mod process;
pub mod signals;
