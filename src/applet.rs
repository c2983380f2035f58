//! THE applet table, and everything derived from it: dispatch by argv[0] or by subcommand,
//! `--list`, `--help`, `help APPLET`, `--version` and `--install DIR`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::cli::print_stdout;
use crate::error::Error;
use crate::{exit, grpc_probe, health, init, log, wait};

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
    /// What `NAME --version` prints.
    pub version: fn() -> String,
    /// Exit code for usage errors (2, or 1 where the contract forbids 2).
    pub usage_code: u8,
    pub run: fn(Invocation) -> Result<u8, Error>,
}

/// Sorted by name; names and aliases are unique (checked by a unit test).
pub static APPLETS: &[Applet] = &[
    Applet {
        name: "grpc_health_probe",
        aliases: &[],
        about: "gRPC health check with grpc_health_probe's flags and exit codes (drop-in)",
        help: || grpc_probe::HELP.to_string(),
        version: grpc_probe::version,
        usage_code: exit::FAILURE,
        run: grpc_probe::run,
    },
    Applet {
        name: "health",
        aliases: &["healthcheck"],
        about: "HTTP(S), TCP, Unix-socket and database checks for HEALTHCHECK and exec probes: exit 0 or 1",
        help: health::help,
        version: ward_version,
        usage_code: exit::FAILURE,
        run: health::run,
    },
    Applet {
        name: "init",
        aliases: &[],
        about: "PID 1 for containers: forward signals, reap zombies, pass the exit code through",
        help: || init::HELP.to_string(),
        version: ward_version,
        usage_code: exit::USAGE,
        run: init::run,
    },
    Applet {
        name: "tini",
        aliases: &["docker-init"],
        about: "init with tini's flags, environment and exit codes (drop-in for tini/docker-init)",
        help: || init::TINI_HELP.to_string(),
        version: init::tini_version_line,
        usage_code: exit::FAILURE,
        run: init::run_tini,
    },
    Applet {
        name: "wait",
        aliases: &[],
        about: "wait until targets answer, then exec a program (docker-compose-wait compatible as `wait`)",
        help: wait::help,
        version: ward_version,
        usage_code: exit::USAGE,
        run: wait::run,
    },
];

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn ward_version() -> String {
    format!("ward {VERSION}\n")
}

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
    let mut rows = Vec::new();
    for a in APPLETS {
        let names = std::iter::once(a.name)
            .chain(a.aliases.iter().copied())
            .collect::<Vec<_>>()
            .join(", ");
        rows.push((names, a.about));
    }
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    for (names, about) in rows {
        s.push_str(&format!("  {names:<width$}  {about}\n"));
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
/// error once as `ward <applet>[<pid>]: <message>`. `--help`, `-h` and `--version` alone on the
/// line are answered here, the same for every applet; with anything else they are a usage error
/// (the applets' parsers say so).
fn run_applet(applet: &'static Applet, args: Vec<OsString>, via_argv0: bool) -> u8 {
    log::set_applet(applet.name);
    if let [only] = args.as_slice() {
        if only == "--help" || only == "-h" {
            print_stdout(&(applet.help)());
            return exit::SUCCESS;
        }
        if only == "--version" {
            print_stdout(&(applet.version)());
            return exit::SUCCESS;
        }
    }
    match (applet.run)(Invocation { args, via_argv0 }) {
        Ok(code) => code,
        Err(err) => {
            log::said(format_args!("{err}"));
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
    log::said(format_args!(
        "unknown applet {} (known: {})",
        crate::redact::quoted(&name),
        known_list()
    ));
    exit::NOT_FOUND
}

/// `ward ARG...`: meta options, or an applet name followed by its arguments.
fn multi_call(mut args: Vec<OsString>) -> u8 {
    if args.is_empty() {
        log::said(format_args!(
            "missing applet (known: {}); see 'ward --help'",
            known_list()
        ));
        return exit::USAGE;
    }
    let first = args.remove(0);
    let first_str = first.to_string_lossy();
    let extra = match first_str.as_ref() {
        "--help" | "-h" | "--version" | "-V" | "--list" => !args.is_empty(),
        "help" => args.len() > 1,
        _ => false,
    };
    if extra {
        log::said(format_args!(
            "{first_str} takes no other arguments; see 'ward --help'"
        ));
        return exit::USAGE;
    }
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
            [dir] if !dir.is_empty() => match install(Path::new(dir)) {
                Ok(created) => {
                    print_stdout(&created);
                    exit::SUCCESS
                }
                Err(msg) => {
                    log::said(format_args!("--install: {msg}"));
                    exit::FAILURE
                }
            },
            _ => {
                log::said(format_args!(
                    "--install expects exactly one directory, not empty (ward --install DIR)"
                ));
                exit::USAGE
            }
        },
        name if name.starts_with('-') => {
            log::said(format_args!("unknown option '{name}'; see 'ward --help'"));
            exit::USAGE
        }
        name => match find(name) {
            Some(applet) => run_applet(applet, args, false),
            None => unknown(name),
        },
    }
}

fn unknown(name: &str) -> u8 {
    log::said(format_args!(
        "unknown applet {} (known: {})",
        crate::redact::quoted(name),
        known_list()
    ));
    exit::NOT_FOUND
}

/// Creates DIR (and its parents) and a symlink DIR/NAME -> this binary for every name, and
/// returns what it did, a line per name. Every name is checked before any link is made: an
/// existing file that is not a symlink (and not ward itself) stops the install with nothing
/// changed. An existing symlink is replaced.
fn install(dir: &Path) -> Result<String, String> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        format!(
            "cannot {what} {}: {}",
            path.display(),
            crate::error::describe_io(&e)
        )
    };
    let target: PathBuf =
        std::env::current_exe().map_err(|e| io("find", Path::new("ward's own path"), e))?;
    // What each name needs: None (already ward itself), Some(replace).
    let mut plan = Vec::new();
    for name in all_names() {
        let link = dir.join(name);
        match std::fs::symlink_metadata(&link) {
            Ok(meta) if meta.file_type().is_symlink() => plan.push((link, Some(true))),
            Ok(_) if link == target => plan.push((link, None)),
            Ok(_) => {
                return Err(format!(
                    "{} exists and is not a symlink; nothing was installed (move it away, or \
                     install into another directory)",
                    link.display()
                ));
            }
            Err(_) => plan.push((link, Some(false))),
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    let mut report = String::new();
    for (link, action) in plan {
        let Some(replace) = action else {
            report.push_str(&format!("kept {} (ward itself)\n", link.display()));
            continue;
        };
        if replace {
            std::fs::remove_file(&link).map_err(|e| io("replace", &link, e))?;
        }
        std::os::unix::fs::symlink(&target, &link).map_err(|e| io("create", &link, e))?;
        let verb = if replace { "replaced" } else { "created" };
        report.push_str(&format!(
            "{verb} {} -> {}\n",
            link.display(),
            target.display()
        ));
    }
    Ok(report)
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
