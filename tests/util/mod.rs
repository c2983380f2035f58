//! Shared test helpers: the binary under test, capability checks that fail (never skip), temp dirs, commands with a hard timeout, and /proc.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The ward binary under test: $WARD_BIN if set (e.g. the static release build), else the one
/// cargo built for this test run.
pub fn ward() -> PathBuf {
    match std::env::var_os("WARD_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_ward")),
    }
}

/// Fails the test, with one line naming what is missing, unless `available`. Nothing is ever
/// skipped silently: a test that cannot run here fails. To leave a group out on purpose, filter
/// it (`cargo test -- --skip docker::`), which libtest's summary counts as "filtered out".
pub fn require(what: &str, available: bool) {
    assert!(
        available,
        "{what} is not available on this machine, and this test needs it (run the tests as root \
         on a machine set up by dist/setup, or leave this test out with `cargo test -- --skip NAME`)"
    );
}

/// Whether `unshare --pid --fork --mount-proc` works here (root, or user namespaces).
pub fn pidns_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

pub fn require_pidns() {
    require(
        "a PID namespace (unshare --pid --fork --mount-proc)",
        pidns_available(),
    )
}

/// A python3 interpreter for the signal-catching helper.
pub fn python() -> Option<PathBuf> {
    static PY: OnceLock<Option<PathBuf>> = OnceLock::new();
    PY.get_or_init(|| {
        for p in ["/usr/bin/python3", "python3"] {
            let ok = Command::new(p)
                .args(["-c", "import signal"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Some(PathBuf::from(p));
            }
        }
        None
    })
    .clone()
}

pub fn require_python() -> PathBuf {
    let py = python();
    require("python3", py.is_some());
    py.unwrap_or_default()
}

/// Builds ward with cargo into `target/<target_dir>` (a target directory of its own, so the
/// outer cargo's build directory is left alone) and returns the path of `artifact` in it.
pub fn cargo_build(target_dir: &str, args: &[&str], artifact: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target").join(target_dir);
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--quiet", "--target-dir"])
        .arg(&dir)
        .args(args);
    let out = output_within(cmd, Duration::from_secs(900));
    assert!(
        out.status.success(),
        "cargo build {args:?} failed: {}",
        stderr(&out)
    );
    dir.join(artifact)
}

/// The build without the `tls` feature: $WARD_NOTLS_BIN if set (CI points it at dist/build's
/// static one), else built once per test run into target/notls-test.
pub fn notls_ward() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| match std::env::var_os("WARD_NOTLS_BIN") {
        Some(p) => PathBuf::from(p),
        None => cargo_build(
            "notls-test",
            &["--no-default-features", "--bin", "ward"],
            "debug/ward",
        ),
    })
    .clone()
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ward-test-{}-{}-{}",
            std::process::id(),
            tag,
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A symlink to ward named `name` in `dir` (how images install it).
pub fn ward_as(dir: &TempDir, name: &str) -> PathBuf {
    let link = dir.join(name);
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(ward(), &link).unwrap();
    link
}

/// `ward ARGS...` as a Command.
pub fn ward_cmd<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(ward());
    c.args(args);
    default_signals(&mut c);
    c
}

/// Removes every variable whose name starts with one of `prefixes` (WARD_, WAIT_...) that
/// this test process has, so that the outside environment cannot steer the command.
pub fn without_env(cmd: &mut Command, prefixes: &[&str]) {
    for (k, _) in std::env::vars() {
        if prefixes.iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(k);
        }
    }
}

/// Sets this process's signal mask to `blocked` and the disposition of every signal to SIG_IGN
/// (bit set in `ignored`) or SIG_DFL, with raw system calls: glibc refuses to touch 32 and 33,
/// and the test runner may have them ignored. Async-signal-safe (used between fork and exec).
pub fn set_signal_state(blocked: u64, ignored: u64) {
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    for s in 1..=64i32 {
        if s == 9 || s == 19 {
            continue;
        }
        let act = KernelSigaction {
            handler: if ignored & bit(s) != 0 {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            },
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: a fully initialised kernel sigaction for SIG_DFL/SIG_IGN.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                s,
                &act,
                std::ptr::null_mut::<KernelSigaction>(),
                8,
            );
        }
    }
    // SAFETY: an 8-byte kernel signal set.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &blocked,
            std::ptr::null_mut::<u64>(),
            8,
        );
    }
}

/// Starts the command with an empty signal mask and every disposition at SIG_DFL, whatever the
/// test runner inherited (a runner started in the background has SIGINT ignored, and ward
/// faithfully hands that on). Tests that want another state add their own `pre_exec` after.
pub fn default_signals(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only raw signal system calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            set_signal_state(0, 0);
            Ok(())
        });
    }
}

/// `unshare --pid --fork --mount-proc --kill-child ward ARGS...`: ward as PID 1 of a new
/// namespace (the unshare process exits with ward's code).
pub fn ward_pid1_cmd<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc", "--kill-child"]);
    c.arg(ward());
    c.args(args);
    default_signals(&mut c);
    c
}

/// Runs `cmd` with stdin closed, capturing output, and kills it if it takes longer than
/// `limit` (a hang is a failure, never a stuck test run).
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn");
    wait_output(child, limit)
}

/// Collects a spawned child's output (stdout/stderr must be piped), killing it after `limit`.
pub fn wait_output(mut child: Child, limit: Duration) -> Output {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut v);
        }
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut v);
        }
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("command did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

/// Exit code, or 128+signal when the process was killed (as a shell shows it).
pub fn code(out: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    out.status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0))
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `cond` every 10 ms until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The direct children of `pid`, from /proc.
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Waits for `pid` to have exactly one child and returns it.
pub fn only_child(pid: u32) -> u32 {
    let mut found = 0;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let c = children(pid);
            if c.len() == 1 {
                found = c[0];
                true
            } else {
                false
            }
        }),
        "process {pid} never had exactly one child"
    );
    found
}

/// A field of /proc/PID/status, e.g. "SigBlk" or "voluntary_ctxt_switches".
pub fn status_field(pid: u32, field: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then(|| v.trim().to_string())
    })
}

/// A signal-set field of /proc/PID/status (SigBlk, SigIgn, ...) as a bit mask.
pub fn sigset_field(pid: u32, field: &str) -> u64 {
    u64::from_str_radix(&status_field(pid, field).expect(field), 16).unwrap()
}

/// The process state letter (R, S, Z, ...) of `pid`.
pub fn state(pid: u32) -> Option<char> {
    status_field(pid, "State").and_then(|s| s.chars().next())
}

pub fn alive(pid: u32) -> bool {
    matches!(state(pid), Some(c) if c != 'Z' && c != 'X')
}

pub fn kill(pid: u32, sig: i32) {
    // SAFETY: plain kill(2) on a pid.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// Bit for signal `sig` in a kernel signal set.
pub fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Kills the listed processes (SIGKILL) when dropped, so a failing test leaves nothing behind.
#[derive(Default)]
pub struct KillOnDrop(pub Vec<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if alive(pid) {
                kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Writes the signal-catching helper into `dir`: a python3 program that installs a handler on
/// every catchable signal and appends each received signal number to `log`, after writing
/// "ready". It exits only when it is orphaned.
pub fn write_catcher(dir: &TempDir) -> PathBuf {
    let path = dir.join("catcher.py");
    std::fs::write(
        &path,
        r#"import os, signal, sys, time
# os.write on a raw descriptor: a handler that runs while another one is writing must not hit
# a buffered file's reentrancy error (a flood of signals would kill the catcher).
log = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
def on_signal(sig, frame):
    os.write(log, b"%d\n" % sig)
for s in range(1, 65):
    if s in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(s, on_signal)
    except (OSError, ValueError, RuntimeError):
        pass
os.write(log, b"ready %d\n" % os.getpid())
parent = os.getppid()
# Handlers run while sleeping (PEP 475); leave once orphaned so no test leaks a catcher.
while os.getppid() == parent:
    time.sleep(0.5)
"#,
    )
    .unwrap();
    path
}

/// Lines of a log file written by the catcher.
pub fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until the log has a line equal to `line`.
pub fn wait_for_line(path: &Path, line: &str, limit: Duration) -> bool {
    wait_until(limit, || log_lines(path).iter().any(|l| l == line))
}

/// Waits until the log has a line starting with `prefix`.
pub fn wait_for_prefix(path: &Path, prefix: &str, limit: Duration) -> bool {
    wait_until(limit, || {
        log_lines(path).iter().any(|l| l.starts_with(prefix))
    })
}
