//! The one error type. Each variant knows its exit code; `main` prints the message once as
//! `ward <applet>: <message>`. Messages are one line and never contain secrets.

use std::ffi::OsString;
use std::fmt;
use std::io;

use crate::exit;

#[derive(Debug)]
pub enum Error {
    /// Bad command line or environment variable. Exit code: the applet's usage code.
    Usage(String),
    /// The program to run could not be executed. Exit code 127 (not found) or 126.
    Exec { program: OsString, err: io::Error },
    /// Any other failure, already phrased for the user. Exit code 1.
    Failed(String),
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into())
    }

    /// The process exit code for this error; `usage_code` is what the applet uses for usage
    /// errors (2, or 1 where Docker or tini compatibility wants it).
    pub fn exit_code(&self, usage_code: u8) -> u8 {
        match self {
            Error::Usage(_) => usage_code,
            Error::Exec { err, .. } => exit::for_exec_error(err),
            Error::Failed(_) => exit::FAILURE,
        }
    }
}

/// The text of an OS error without Rust's " (os error N)" suffix.
pub fn describe_io(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) | Error::Failed(msg) => f.write_str(msg),
            Error::Exec { program, err } => {
                let exists = std::path::Path::new(program).components().count() > 1
                    && std::path::Path::new(program).exists();
                let what = if exit::for_exec_error(err) == exit::NOT_FOUND && exists {
                    // execve says ENOENT for a script whose #! interpreter is missing.
                    "its interpreter (#! line) was not found".to_string()
                } else if exit::for_exec_error(err) == exit::NOT_FOUND {
                    "not found".to_string()
                } else {
                    format!("not executable: {}", describe_io(err))
                };
                write!(f, "cannot run {:?}: {what}", program)
            }
        }
    }
}

impl From<lexopt::Error> for Error {
    fn from(err: lexopt::Error) -> Error {
        Error::Usage(err.to_string())
    }
}
