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
    assert!(
        stderr(&out).contains("known: grpc_health_probe, health"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn meta_options() {
    let out = output_within(ward_cmd(["--list"]), T);
    assert_eq!(code(&out), 0);
    assert_eq!(
        stdout(&out),
        "grpc_health_probe\nhealth\nhealthcheck\ninit\ntini\ndocker-init\nwait\n"
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

/// --install says what it created, checks every name before it makes any link (a conflict
/// leaves the directory as it was), and refuses an empty directory name.
#[test]
fn install_reports_and_is_all_or_nothing() {
    let dir = TempDir::new("install2");
    let bin = dir.join("bin");
    let install = |path: &std::path::Path| {
        output_within(
            ward_cmd([std::ffi::OsStr::new("--install"), path.as_os_str()]),
            T,
        )
    };
    let out = install(&bin);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = stdout(&out);
    assert_eq!(said.lines().count(), 7, "{said}");
    assert!(said.lines().all(|l| l.starts_with("created ")), "{said}");
    assert!(
        said.contains(&format!("{}/wait -> ", bin.display())),
        "{said}"
    );
    let again = stdout(&install(&bin));
    assert!(again.lines().all(|l| l.starts_with("replaced ")), "{again}");

    // A conflict on the last name: nothing is created in a fresh directory.
    let fresh = dir.join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("wait"), "mine").unwrap();
    let out = install(&fresh);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(
        err.starts_with("ward[") && err.contains("nothing was installed"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&fresh).unwrap().collect();
    assert_eq!(left.len(), 1, "a partial set of links was left behind");

    let out = output_within(ward_cmd(["--install", ""]), T);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("--install expects"),
        "{}",
        stderr(&out)
    );
}

/// Every applet answers --version; one wording for unknown options everywhere; help or
/// --version with other arguments is a usage error with the applet's usage code; every error
/// line carries the applet and ward's pid.
#[test]
fn every_applet_speaks_the_same_way() {
    let version = format!("ward {}\n", env!("CARGO_PKG_VERSION"));
    for applet in ["init", "health", "wait"] {
        let out = output_within(ward_cmd([applet, "--version"]), T);
        assert_eq!(code(&out), 0, "{applet}: {}", stderr(&out));
        assert_eq!(stdout(&out), version, "{applet}");
    }
    let out = output_within(ward_cmd(["tini", "--version"]), T);
    assert!(
        stdout(&out).starts_with("tini version "),
        "{}",
        stdout(&out)
    );

    for (applet, usage) in [("init", 2), ("health", 1), ("wait", 2), ("tini", 1)] {
        let out = output_within(ward_cmd([applet, "--frob", "x"]), T);
        assert_eq!(code(&out), usage, "{applet}");
        let err = stderr(&out);
        let prefix = format!("ward {applet}[");
        assert!(err.starts_with(&prefix), "{applet}: {err}");
        assert!(
            err.contains("]: unknown option '--frob'; "),
            "{applet}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        for meta in ["-h", "--help", "--version"] {
            let out = output_within(ward_cmd([applet, meta, "x"]), T);
            assert_eq!(code(&out), usage, "{applet} {meta} x: {}", stderr(&out));
            assert!(out.stdout.is_empty(), "{applet} {meta} x printed help");
            assert!(
                stderr(&out).contains(&format!("{meta} takes no other arguments")),
                "{applet} {meta}: {}",
                stderr(&out)
            );
        }
    }
    for args in [
        &["--version", "x"][..],
        &["--help", "x"],
        &["--list", "x"],
        &["help", "init", "x"],
    ] {
        let out = output_within(ward_cmd(args), T);
        assert_eq!(code(&out), 2, "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = output_within(ward_cmd(["--frob"]), T);
    assert!(
        stderr(&out).starts_with("ward[") && stderr(&out).contains("unknown option '--frob'"),
        "{}",
        stderr(&out)
    );

    // `ward wait TARGET PROGRAM` without `--`: the error says where the -- goes.
    let out = output_within(ward_cmd(["wait", "tcp://127.0.0.1:1", "echo", "ready"]), T);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("put -- before it: ward wait TARGET... -- PROGRAM"),
        "{}",
        stderr(&out)
    );
}

/// `ward --help` lists the applets in one aligned table: every description starts in the same
/// column.
#[test]
fn help_table_is_aligned() {
    let out = output_within(ward_cmd(["--help"]), T);
    let text = stdout(&out);
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "Applets:")
        .skip(1)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 5, "{text}");
    let column = |row: &str| {
        let names_end = row.trim_start().find("  ").unwrap() + 2;
        let rest = &row.trim_start()[names_end..];
        row.len() - rest.trim_start().len()
    };
    let first = column(rows[0]);
    for row in &rows {
        assert_eq!(column(row), first, "{text}");
    }
}
