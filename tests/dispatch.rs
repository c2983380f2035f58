//! The applet table seen from outside: names, meta options, --install, unknown names.

use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn every_name_dispatches() {
    let dir = TempDir::new("names");
    for name in ["init", "tini", "docker-init"] {
        let link = ward_as(&dir, name);
        let mut cmd = std::process::Command::new(&link);
        cmd.args(["--", "sh", "-c", "exit 9"]);
        let out = output_within(cmd, T);
        assert_eq!(code(&out), 9, "{name}: {}", stderr(&out));
    }
    // Subcommand form, and a release file name like ward-0.1.0-x86_64.
    let out = output_within(ward_cmd(["init", "sh", "-c", "exit 8"]), T);
    assert_eq!(code(&out), 8);
    // A release file name (a symlink: dispatch reads only argv[0]'s file name).
    let renamed = ward_as(&dir, "ward-0.1.0-x86_64");
    let mut cmd = std::process::Command::new(&renamed);
    cmd.args(["init", "--", "true"]);
    assert_eq!(code(&output_within(cmd, T)), 0);
}

#[test]
fn unknown_names_exit_127_with_the_known_list() {
    let dir = TempDir::new("unknown");
    let link = ward_as(&dir, "bogus");
    let out = output_within(std::process::Command::new(&link), T);
    assert_eq!(code(&out), 127);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("\"bogus\"") && err.contains("init") && err.contains("tini"),
        "{err}"
    );

    let out = output_within(ward_cmd(["frobnicate"]), T);
    assert_eq!(code(&out), 127);
    assert!(stderr(&out).contains("known: health"), "{}", stderr(&out));
}

#[test]
fn meta_options() {
    let out = output_within(ward_cmd(["--list"]), T);
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout(&out),
        "health\nhealthcheck\ninit\ntini\ndocker-init\nwait\n"
    );

    let out = output_within(ward_cmd(["--version"]), T);
    assert_eq!(
        stdout(&out),
        format!("ward {}\n", env!("CARGO_PKG_VERSION"))
    );

    let out = output_within(ward_cmd(["--help"]), T);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("init") && stdout(&out).contains("--install"));

    for args in [&["help", "init"][..], &["init", "--help"], &["init", "-h"]] {
        let out = output_within(ward_cmd(args), T);
        assert_eq!(code(&out), 0, "{args:?}");
        assert!(stdout(&out).contains("--kill-after"), "{args:?}");
        assert!(stdout(&out).contains("WARD_INIT_GRACE"), "{args:?}");
    }
    let out = output_within(ward_cmd(["help", "tini"]), T);
    assert!(stdout(&out).contains("TINI_KILL_PROCESS_GROUP"));
}

#[test]
fn bad_usage_is_one_line_and_exit_2() {
    for args in [
        &[][..],
        &["--bogus"],
        &["init"],
        &["init", "--"],
        &["init", "--bogus", "true"],
        &["init", "--grace", "soon", "true"],
        &["init", "--kill-after", "-1", "true"],
        &["init", "-r", "TERM", "true"],
        &["init", "-r", "KILL:TERM", "true"],
        &["init", "-e", "300", "true"],
        &["init", "-p", "NOPE", "true"],
        &["--install"],
    ] {
        let out = output_within(ward_cmd(args), T);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("ward"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn bad_environment_is_a_usage_error_naming_the_variable() {
    for (var, value) in [
        ("WARD_INIT_GRACE", "later"),
        ("WARD_INIT_KILL_AFTER", "x"),
        ("WARD_INIT_PGROUP", "maybe"),
        ("WARD_INIT_REWRITE", "TERM"),
        ("WARD_INIT_REMAP_EXIT", "1,999"),
        ("WARD_INIT_PDEATHSIG", "SIGNOPE"),
        ("WARD_INIT_VERBOSE", "9"),
        ("WARD_INIT_WARN_REAPED", "perhaps"),
    ] {
        let mut cmd = ward_cmd(["init", "true"]);
        cmd.env(var, value);
        let out = output_within(cmd, T);
        assert_eq!(code(&out), 2, "{var}={value}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(var), "{err}");
    }
}

#[test]
fn install_creates_working_symlinks() {
    let dir = TempDir::new("install");
    let bin = dir.join("new/bin");
    let out = output_within(
        ward_cmd([std::ffi::OsStr::new("--install"), bin.as_os_str()]),
        T,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for name in [
        "health",
        "healthcheck",
        "init",
        "tini",
        "docker-init",
        "wait",
    ] {
        let link = bin.join(name);
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_symlink(), "{name}");
        assert_eq!(
            std::fs::canonicalize(&link).unwrap(),
            std::fs::canonicalize(ward()).unwrap()
        );
    }
    let mut cmd = std::process::Command::new(bin.join("init"));
    cmd.args(["sh", "-c", "exit 5"]);
    assert_eq!(code(&output_within(cmd, T)), 5);

    // Again: existing links are replaced; a regular file is not clobbered.
    let out = output_within(
        ward_cmd([std::ffi::OsStr::new("--install"), bin.as_os_str()]),
        T,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    std::fs::remove_file(bin.join("tini")).unwrap();
    std::fs::write(bin.join("tini"), "mine").unwrap();
    let out = output_within(
        ward_cmd([std::ffi::OsStr::new("--install"), bin.as_os_str()]),
        T,
    );
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("not a symlink"), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(bin.join("tini")).unwrap(), "mine");
}
