//! THE applet table, and everything derived from it: dispatch by argv[0] or by subcommand,
//! `--list`, `--help`, `help APPLET`, `--version` and `--install DIR`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cli::print_stdout;
use crate::error::Error;
use crate::{exit, health, init, log, wait};

/// What an applet's run function gets: the arguments after its name.
pub struct Invocation {
    pub args: Vec<OsString>,
    /// Called by its own name (a symlink), not as `ward NAME`: `wait` then speaks
    /// docker-compose-wait's environment too.
    pub via_argv0: bool,
}

pub struct Applet {
    /// Canonical name; also a name it answers to as argv[0].
    pub name: &'static str,
    /// Other argv[0] names for the same applet.
    pub aliases: &'static [&'static str],
    /// One line for `ward --help`.
    pub about: &'static str,
    /// Full help text for `ward help NAME` and `NAME --help`.
    pub help: fn() -> String,
    /// Exit code for usage errors (2, or 1 where the contract forbids 2).
    pub usage_code: u8,
    pub run: fn(Invocation) -> Result<u8, Error>,
}

/// Sorted by name; names and aliases are unique (checked by a unit test).
pub static APPLETS: &[Applet] = &[
    Applet {
        name: "health",
        aliases: &["healthcheck"],
        about: "HTTP(S), TCP and Unix-socket checks for HEALTHCHECK and exec probes: exit 0 or 1",
        help: health::help,
        usage_code: exit::FAILURE,
        run: health::run,
    },
    Applet {
        name: "init",
        aliases: &[],
        about: "PID 1 for containers: forward signals, reap zombies, pass the exit code through",
        help: || init::HELP.to_string(),
        usage_code: exit::USAGE,
        run: init::run,
    },
    Applet {
        name: "tini",
        aliases: &["docker-init"],
        about: "init with tini's flags, environment and exit codes (drop-in for tini/docker-init)",
        help: || init::TINI_HELP.to_string(),
        usage_code: exit::FAILURE,
        run: init::run_tini,
    },
    Applet {
        name: "wait",
        aliases: &[],
        about: "wait until targets answer, then exec a program (docker-compose-wait compatible as `wait`)",
        help: wait::help,
        usage_code: exit::USAGE,
        run: wait::run,
    },
];

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn find(name: &str) -> Option<&'static Applet> {
    APPLETS
        .iter()
        .find(|a| a.name == name || a.aliases.contains(&name))
}

fn all_names() -> impl Iterator<Item = &'static str> {
    APPLETS
        .iter()
        .flat_map(|a| std::iter::once(a.name).chain(a.aliases.iter().copied()))
}

fn known_list() -> String {
    all_names().collect::<Vec<_>>().join(", ")
}

fn general_help() -> String {
    let mut s = format!(
        "ward {VERSION}: one static binary for FROM-scratch and distroless images\n\n\
         Usage: ward APPLET [ARGS...]     or call it under an applet's name (a symlink)\n\
         \x20      ward help APPLET         help for one applet\n\
         \x20      ward --list              the names ward answers to\n\
         \x20      ward --install DIR       create a symlink per name in DIR (no `ln` needed)\n\
         \x20      ward --version\n\nApplets:\n"
    );
    for a in APPLETS {
        let names = std::iter::once(a.name)
            .chain(a.aliases.iter().copied())
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!("  {names:<18} {}\n", a.about));
    }
    s
}

/// The applet name argv[0] stands for: its file name, without a login shell's leading '-'.
fn invoked_name(argv0: &OsStr) -> String {
    let base = Path::new(argv0)
        .file_name()
        .map(|n| n.as_bytes())
        .unwrap_or(b"");
    let base = base.strip_prefix(b"-").unwrap_or(base);
    String::from_utf8_lossy(base).into_owned()
}

/// Runs the applet with its arguments and turns the result into an exit code, printing an
/// error once as `ward <applet>: <message>`.
fn run_applet(applet: &'static Applet, args: Vec<OsString>, via_argv0: bool) -> u8 {
    log::set_applet(applet.name);
    match (applet.run)(Invocation { args, via_argv0 }) {
        Ok(code) => code,
        Err(err) => {
            log::line(&format!("ward {}: {err}", applet.name));
            err.exit_code(applet.usage_code)
        }
    }
}

/// Entry from `main`: pick the applet from argv[0], or from argv[1] when called as ward.
pub fn dispatch(mut args: Vec<OsString>) -> u8 {
    let argv0 = if args.is_empty() {
        OsString::from("ward")
    } else {
        args.remove(0)
    };
    let name = invoked_name(&argv0);
    if let Some(applet) = find(&name) {
        return run_applet(applet, args, true);
    }
    if name.starts_with("ward") {
        return multi_call(args);
    }
    log::line(&format!(
        "ward: unknown applet {name:?} (known: {})",
        known_list()
    ));
    exit::NOT_FOUND
}

/// `ward ARG...`: meta options, or an applet name followed by its arguments.
fn multi_call(mut args: Vec<OsString>) -> u8 {
    if args.is_empty() {
        log::line(&format!(
            "ward: missing applet (known: {}); see 'ward --help'",
            known_list()
        ));
        return exit::USAGE;
    }
    let first = args.remove(0);
    let first_str = first.to_string_lossy();
    match first_str.as_ref() {
        "--help" | "-h" => {
            print_stdout(&general_help());
            exit::SUCCESS
        }
        "help" => match args.first().map(|a| a.to_string_lossy()) {
            None => {
                print_stdout(&general_help());
                exit::SUCCESS
            }
            Some(name) => match find(&name) {
                Some(applet) => {
                    print_stdout(&(applet.help)());
                    exit::SUCCESS
                }
                None => unknown(&name),
            },
        },
        "--version" | "-V" => {
            print_stdout(&format!("ward {VERSION}\n"));
            exit::SUCCESS
        }
        "--list" => {
            let mut s = String::new();
            for n in all_names() {
                s.push_str(n);
                s.push('\n');
            }
            print_stdout(&s);
            exit::SUCCESS
        }
        "--install" => match args.as_slice() {
            [dir] => match install(Path::new(dir)) {
                Ok(()) => exit::SUCCESS,
                Err(msg) => {
                    log::line(&format!("ward --install: {msg}"));
                    exit::FAILURE
                }
            },
            _ => {
                log::line("ward --install: expects exactly one directory (ward --install DIR)");
                exit::USAGE
            }
        },
        name if name.starts_with('-') => {
            log::line(&format!("ward: unknown option {name:?}; see 'ward --help'"));
            exit::USAGE
        }
        name => match find(name) {
            Some(applet) => run_applet(applet, args, false),
            None => unknown(name),
        },
    }
}

fn unknown(name: &str) -> u8 {
    log::line(&format!(
        "ward: unknown applet {name:?} (known: {})",
        known_list()
    ));
    exit::NOT_FOUND
}

/// Creates DIR (and its parents) and a symlink DIR/NAME -> this binary for every name.
/// An existing symlink is replaced; any other existing file is left alone and reported.
fn install(dir: &Path) -> Result<(), String> {
    let target: PathBuf = std::env::current_exe().map_err(|e| {
        format!(
            "cannot find ward's own path: {}",
            crate::error::describe_io(&e)
        )
    })?;
    std::fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create {}: {}",
            dir.display(),
            crate::error::describe_io(&e)
        )
    })?;
    for name in all_names() {
        let link = dir.join(name);
        if let Ok(meta) = std::fs::symlink_metadata(&link) {
            if meta.file_type().is_symlink() {
                std::fs::remove_file(&link).map_err(|e| {
                    format!(
                        "cannot replace {}: {}",
                        link.display(),
                        crate::error::describe_io(&e)
                    )
                })?;
            } else if link == target {
                continue;
            } else {
                return Err(format!(
                    "{} exists and is not a symlink; not replacing it",
                    link.display()
                ));
            }
        }
        std::os::unix::fs::symlink(&target, &link).map_err(|e| {
            format!(
                "cannot create {}: {}",
                link.display(),
                crate::error::describe_io(&e)
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_complete() {
        let names: Vec<_> = APPLETS.iter().map(|a| a.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "APPLETS must be sorted by name");
        let all: Vec<_> = all_names().collect();
        let mut dedup = all.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(all.len(), dedup.len(), "names and aliases must be unique");
        for a in APPLETS {
            assert!(!a.name.is_empty() && !a.about.is_empty() && !(a.help)().is_empty());
            assert!(
                !a.name.starts_with("ward"),
                "an applet may not shadow multi-call mode"
            );
        }
    }

    #[test]
    fn argv0_names() {
        assert_eq!(invoked_name(OsStr::new("/usr/bin/init")), "init");
        assert_eq!(invoked_name(OsStr::new("-tini")), "tini");
        assert_eq!(invoked_name(OsStr::new("ward")), "ward");
        assert_eq!(invoked_name(OsStr::new("")), "");
    }
}
