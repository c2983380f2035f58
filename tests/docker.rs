//! End to end on the real Docker engine: FROM-scratch images holding only the static ward and a
//! static test app (examples/e2e_app.rs, built for musl), built locally (no registry needed).
//! Without a Docker engine these tests fail, naming what is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(120);

fn docker(args: &[&str]) -> Output {
    let mut cmd = Command::new("docker");
    cmd.args(args);
    output_within(cmd, T)
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn docker_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn require_docker() {
    require("a Docker engine (docker info)", docker_available())
}

/// Whether `path` is an ELF executable without an interpreter (statically linked).
fn is_static(path: &Path) -> bool {
    let Ok(out) = Command::new("file").arg("-b").arg(path).output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    text.contains("statically linked") || text.contains("static-pie linked")
}

/// Builds the musl artifacts the images need, once per test run, in target/e2e.
/// $WARD_STATIC_BIN / $WARD_E2E_APP skip the build.
fn musl_build(args: &[&str], artifact: &str) -> PathBuf {
    let mut all = vec!["--release", "--target", "x86_64-unknown-linux-musl"];
    all.extend_from_slice(args);
    cargo_build(
        "e2e",
        &all,
        &format!("x86_64-unknown-linux-musl/release/{artifact}"),
    )
}

fn static_ward() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        for var in ["WARD_STATIC_BIN", "WARD_BIN"] {
            if let Some(p) = std::env::var_os(var).map(PathBuf::from) {
                if is_static(&p) {
                    return p;
                }
            }
        }
        musl_build(&["--bin", "ward"], "ward")
    })
    .clone()
}

fn app() -> PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| match std::env::var_os("WARD_E2E_APP") {
        Some(p) => PathBuf::from(p),
        None => musl_build(&["--example", "e2e_app"], "examples/e2e_app"),
    })
    .clone()
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "ward-e2e-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A locally built image; removed on drop.
struct Image(String);

impl Image {
    /// FROM scratch + `lines`; the build context holds `ward` and `app`.
    fn build(tag: &str, lines: &str) -> Image {
        let dir = TempDir::new("image");
        std::fs::copy(static_ward(), dir.join("ward")).unwrap();
        std::fs::copy(app(), dir.join("app")).unwrap();
        std::fs::write(dir.join("Dockerfile"), format!("FROM scratch\n{lines}\n")).unwrap();
        let name = format!("{}:test", unique(tag));
        // --no-cache: every layer of this image is its own. Tests build in parallel, and with
        // the cache one test's `docker rmi` could delete an intermediate image that another
        // build had just picked as its parent ("unknown parent image ID", "No such image").
        docker_ok(&[
            "build",
            "-q",
            "--no-cache",
            "--force-rm",
            "-t",
            &name,
            dir.path().to_str().unwrap(),
        ]);
        Image(name)
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A running (or finished) container; removed on drop.
struct Container(String);

impl Container {
    fn run(image: &Image, opts: &[&str], cmd: &[&str]) -> Container {
        let name = unique("c");
        let mut args = vec!["run", "-d", "--name", &name];
        args.extend_from_slice(opts);
        args.push(&image.0);
        args.extend_from_slice(cmd);
        docker_ok(&args);
        Container(name)
    }

    fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.0])
    }

    /// The host pid of the container's PID 1.
    fn pid(&self) -> u32 {
        self.inspect("{{.State.Pid}}").parse().unwrap()
    }

    fn logs(&self) -> String {
        let out = docker(&["logs", &self.0]);
        format!("{}{}", stdout(&out), stderr(&out))
    }

    fn wait_exit(&self) -> i32 {
        docker_ok(&["wait", &self.0]).parse().unwrap()
    }

    fn health(&self) -> String {
        self.inspect("{{.State.Health.Status}}")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn with_ward(extra: &str) -> String {
    format!("COPY ward /ward\nCOPY app /app\n{extra}\nENTRYPOINT [\"/ward\", \"init\", \"--\"]")
}

#[test]
fn healthcheck_goes_starting_healthy_unhealthy_with_the_reason_in_the_log() {
    require_docker();
    let image = Image::build(
        "health",
        &with_ward(
            "HEALTHCHECK --interval=1s --timeout=3s --start-period=30s --retries=2 \
             CMD [\"/ward\", \"health\", \"--timeout\", \"2s\", \"http://127.0.0.1:8080/healthz\"]",
        ),
    );
    let c = Container::run(&image, &[], &["/app", "serve", "8080"]);
    assert_eq!(c.health(), "starting");
    assert!(
        wait_until(Duration::from_secs(30), || c.health() == "healthy"),
        "never healthy: {}",
        c.health()
    );
    // The app stops serving (503): two failed probes make it unhealthy.
    docker_ok(&["kill", "-s", "USR1", &c.0]);
    assert!(
        wait_until(Duration::from_secs(30), || c.health() == "unhealthy"),
        "never unhealthy"
    );
    let log = c.inspect("{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}|{{end}}");
    assert!(
        log.contains("1 http://127.0.0.1:8080/healthz: HTTP 503"),
        "{log}"
    );
    assert!(log.contains("0 |"), "healthy probes are silent: {log}");
}

#[test]
fn docker_stop_reaches_the_app_and_its_exit_code_comes_back() {
    require_docker();
    // The app handles SIGTERM and exits 42.
    let image = Image::build("stop", &with_ward(""));
    let c = Container::run(&image, &[], &["/app", "serve", "8080", "42"]);
    assert!(wait_until(T, || c.logs().contains("app: serving")));
    docker_ok(&["stop", "-t", "20", &c.0]);
    assert_eq!(c.wait_exit(), 42, "{}", c.logs());
    assert!(c.logs().contains("app: got SIGTERM"), "{}", c.logs());

    // An app that never installed a SIGTERM handler: under ward it dies of SIGTERM at once
    // (143); as PID 1 itself the kernel drops the signal and Docker must SIGKILL it (137).
    let c = Container::run(&image, &[], &["/app", "sleep"]);
    docker_ok(&["stop", "-t", "3", &c.0]);
    assert_eq!(c.wait_exit(), 143);
    let bare = Image::build("bare", "COPY app /app\nENTRYPOINT [\"/app\"]");
    let c = Container::run(&bare, &[], &["sleep"]);
    docker_ok(&["stop", "-t", "2", &c.0]);
    assert_eq!(
        c.wait_exit(),
        137,
        "without an init, SIGTERM never reached the app"
    );
}

/// Zombies among the children of the container's PID 1, seen from the host.
fn zombies_under(pid: u32) -> usize {
    children(pid)
        .into_iter()
        .filter(|&p| state(p) == Some('Z'))
        .count()
}

#[test]
fn orphans_are_reaped_inside_the_container() {
    require_docker();
    let image = Image::build("orphans", &with_ward(""));
    let c = Container::run(&image, &[], &["/app", "orphans", "40"]);
    assert!(wait_until(T, || c.logs().contains("app: left 40 orphans")));
    let pid1 = c.pid();
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        wait_until(Duration::from_secs(10), || zombies_under(pid1) == 0),
        "zombies under ward"
    );
    assert_eq!(children(pid1).len(), 1, "only the app is left under ward");

    // The same app as PID 1: nobody reaps, the orphans stay zombies.
    let bare = Image::build("orphans-bare", "COPY app /app\nENTRYPOINT [\"/app\"]");
    let c = Container::run(&bare, &[], &["orphans", "40"]);
    assert!(wait_until(T, || c.logs().contains("app: left 40 orphans")));
    let pid1 = c.pid();
    assert!(
        wait_until(Duration::from_secs(10), || zombies_under(pid1) == 40),
        "{}",
        zombies_under(pid1)
    );
}

#[test]
fn runs_unprivileged_read_only_without_etc_tmp_or_shell() {
    require_docker();
    let image = Image::build("hardened", &with_ward("USER 65532:65532"));
    let c = Container::run(
        &image,
        &[
            "--user",
            "65532:65532",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
        ],
        &["/app", "serve", "8080"],
    );
    assert!(
        wait_until(T, || c.logs().contains("app: serving")),
        "{}",
        c.logs()
    );
    assert_eq!(
        docker_ok(&["exec", &c.0, "/ward", "--version"]),
        format!("ward {}", env!("CARGO_PKG_VERSION"))
    );
    let out = docker(&[
        "exec",
        &c.0,
        "/ward",
        "health",
        "http://localhost:8080/healthz",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Nothing else is in the image: no shell, no /etc of its own (Docker adds only hosts,
    // hostname and resolv.conf), no /tmp.
    for path in ["/bin/sh", "/etc/passwd", "/etc/ssl", "/tmp"] {
        let out = docker(&[
            "exec",
            &c.0,
            "/ward",
            "wait",
            "-q",
            "-t",
            "500ms",
            &format!("file://{path}"),
        ]);
        assert_eq!(code(&out), 1, "{path} exists in the image");
    }
    let out = docker(&["exec", &c.0, "/bin/sh", "-c", "true"]);
    assert_ne!(code(&out), 0);
    docker_ok(&["stop", "-t", "10", &c.0]);
    assert_eq!(c.wait_exit(), 0);
}

/// Processes of the container other than ward (PID 1) and the app, seen from the host: every
/// process whose pid namespace is the container's.
fn extra_processes(pid1: u32) -> Vec<u32> {
    let ns = std::fs::read_link(format!("/proc/{pid1}/ns/pid")).unwrap();
    let app: Vec<u32> = children(pid1);
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| p != pid1 && !app.contains(&p))
        .filter(|&p| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|l| l == ns))
        .collect()
}

#[test]
fn docker_exec_probe_behaves_like_a_kubernetes_exec_probe() {
    require_docker();
    let image = Image::build("exec", &with_ward(""));
    let c = Container::run(&image, &[], &["/app", "serve", "8080"]);
    assert!(wait_until(T, || c.logs().contains("app: serving")));
    let out = docker(&[
        "exec",
        &c.0,
        "/ward",
        "health",
        "http://127.0.0.1:8080/healthz",
    ]);
    assert_eq!(code(&out), 0);
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let out = docker(&[
        "exec",
        &c.0,
        "/ward",
        "health",
        "--timeout",
        "1s",
        "http://127.0.0.1:8081/",
    ]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        "http://127.0.0.1:8081/: timed out after 1s while waiting for the response\n"
    );

    // A probe the runtime kills on its timeout (SIGKILL to the exec'd process only, as
    // containerd does): nothing is left behind.
    let pid1 = c.pid();
    let mut probe = Command::new("docker");
    probe
        .args([
            "exec",
            &c.0,
            "/ward",
            "health",
            "--timeout",
            "60s",
            "http://127.0.0.1:8081/",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut probe = probe.spawn().unwrap();
    let mut victim = 0;
    assert!(wait_until(Duration::from_secs(20), || {
        victim = extra_processes(pid1).into_iter().next().unwrap_or(0);
        victim != 0
    }));
    kill(victim, libc::SIGKILL);
    let _ = probe.wait();
    assert!(
        wait_until(Duration::from_secs(10), || extra_processes(pid1).is_empty()),
        "{:?}",
        extra_processes(pid1)
    );
    assert_eq!(zombies_under(pid1), 0);
}

#[test]
fn tini_named_entrypoint_behaves_like_init() {
    require_docker();
    let image = Image::build(
        "tini",
        "COPY ward /tini\nCOPY app /app\nENTRYPOINT [\"/tini\", \"--\", \"/app\"]",
    );
    let c = Container::run(&image, &[], &["serve", "8080", "42"]);
    assert!(wait_until(T, || c.logs().contains("app: serving")));
    docker_ok(&["stop", "-t", "20", &c.0]);
    assert_eq!(c.wait_exit(), 42, "{}", c.logs());
    let out = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "/tini",
        &image.0,
        "--version",
    ]);
    assert!(
        stdout(&out).starts_with("tini version 0.19.0 - ward "),
        "{}",
        stdout(&out)
    );
    let c = Container::run(&image, &[], &["orphans", "20"]);
    assert!(wait_until(T, || c.logs().contains("app: left 20 orphans")));
    let pid1 = c.pid();
    std::thread::sleep(Duration::from_millis(600));
    assert!(wait_until(Duration::from_secs(10), || zombies_under(pid1) == 0));
}

/// The final stage of Dockerfile.example, with its two build stages replaced by the local
/// static binaries (no registry here), builds and runs: ward as PID 1 and its HEALTHCHECK take
/// the container to healthy, and docker stop returns the app's code.
#[test]
fn dockerfile_example_final_stage_works() {
    require_docker();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile.example"))
            .unwrap();
    let final_stage = text
        .rsplit_once("\nFROM scratch\n")
        .expect("a final FROM scratch stage")
        .1;
    // --start-interval needs Docker Engine 25; older engines reject the flag.
    let engine = docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    let major: u32 = engine
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let mut stage = final_stage
        .replace("COPY --from=ward /ward /ward", "COPY ward /ward")
        .replace("COPY --from=app /out/app /app", "COPY app /app");
    if major < 25 {
        stage = stage.replace(" --start-interval=2s", "");
    }
    assert!(
        stage.contains("COPY ward /ward") && stage.contains("COPY app /app"),
        "{stage}"
    );
    assert!(stage.contains("ENTRYPOINT [\"/ward\", \"init\", \"--\"]"));
    assert!(stage.contains("HEALTHCHECK") && stage.contains("USER 65532:65532"));
    let image = Image::build(
        "example",
        &stage.replace("HEALTHCHECK --interval=30s", "HEALTHCHECK --interval=1s"),
    );
    // The example waits for "db", which does not exist here: wait for a file that does.
    let c = Container::run(
        &image,
        &[
            "-e",
            "WARD_INIT_WAIT=file:///app",
            "--read-only",
            "--cap-drop",
            "ALL",
        ],
        &["/app", "serve", "8080", "3"],
    );
    assert!(
        wait_until(Duration::from_secs(60), || c.health() == "healthy"),
        "{}: {}",
        c.health(),
        c.logs()
    );
    assert!(c.logs().contains("is ready"), "{}", c.logs());
    docker_ok(&["stop", "-t", "20", &c.0]);
    assert_eq!(c.wait_exit(), 3, "{}", c.logs());
}

/// An image whose ENTRYPOINT is ward init with the health watchdog on the app's /healthz:
/// a check every 300 ms, two failures in a row make it unhealthy.
fn watchdog_image(tag: &str, extra_init: &str) -> Image {
    Image::build(
        tag,
        &format!(
            "COPY ward /ward\nCOPY app /app\nENTRYPOINT [\"/ward\", \"init\", \"--health\", \
             \"http://127.0.0.1:8080/healthz\", \"--health-interval\", \"300ms\", \
             \"--health-retries\", \"2\"{extra_init}, \"--\"]"
        ),
    )
}

fn restart_count(c: &Container) -> u32 {
    c.inspect("{{.RestartCount}}").parse().unwrap_or(0)
}

/// Turns the app's /healthz to 503 from inside the container (SIGUSR1 by `docker exec`: on
/// Docker 20.10, `docker kill -s` marks the container as stopped by hand, and no restart
/// policy applies to it afterwards).
fn make_sick(c: &Container) {
    let logs = c.logs();
    let pid = logs
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("app: serving on 8080, pid "))
        .expect("the app's pid in the logs")
        .to_string();
    docker_ok(&["exec", &c.0, "/app", "signal", &pid, "10"]);
}

/// moby#28400 without docker.sock: the app turns unhealthy, ward stops it and exits 124, and
/// `--restart on-failure` brings the container back; ward's line is in `docker logs`. Without
/// a restart policy the container ends with 124.
#[test]
fn an_unhealthy_app_is_restarted_by_the_restart_policy() {
    require_docker();
    let image = watchdog_image("watchdog", "");
    let c = Container::run(
        &image,
        &["--restart", "on-failure:5"],
        &["/app", "serve", "8080"],
    );
    assert!(wait_until(T, || c.logs().contains("app: serving")));
    // Docker applies a restart policy only to a container that ran for 10 s.
    std::thread::sleep(Duration::from_secs(11));
    make_sick(&c);
    assert!(
        wait_until(T, || restart_count(&c) >= 1),
        "never restarted: {}",
        c.logs()
    );
    let logs = c.logs();
    assert!(
        logs.contains(
            "unhealthy: http://127.0.0.1:8080/healthz: HTTP 503 (2 failures in a row, every 300ms)"
        ),
        "{logs}"
    );
    assert!(logs.contains("exiting with status 124"), "{logs}");
    // The restarted app is healthy again and left alone.
    assert!(wait_until(T, || c.inspect("{{.State.Running}}") == "true"));

    let c = Container::run(&image, &[], &["/app", "serve", "8080"]);
    assert!(wait_until(T, || c.logs().contains("app: serving")));
    make_sick(&c);
    assert_eq!(c.wait_exit(), 124, "{}", c.logs());
}

/// An app that ignores SIGTERM gets SIGKILL after the grace time (--kill-after here), and the
/// status is still 124.
#[test]
fn an_unhealthy_app_that_ignores_sigterm_is_killed() {
    require_docker();
    let image = watchdog_image("watchdog-kill", ", \"--kill-after\", \"1s\"");
    let c = Container::run(&image, &[], &["/app", "serve", "8080", "ignore"]);
    assert!(wait_until(T, || c.logs().contains("app: serving")));
    make_sick(&c);
    assert_eq!(c.wait_exit(), 124, "{}", c.logs());
    let logs = c.logs();
    assert!(logs.contains("app: ignoring it"), "{logs}");
    assert!(
        logs.contains(
            "child still running 1s after the SIGTERM for being unhealthy; sending SIGKILL"
        ),
        "{logs}"
    );
}

/// A start period that covers a slow start: no restart; a healthy app is never touched, and
/// `docker stop` still ends it at once with its own status.
#[test]
fn a_slow_start_in_the_start_period_and_a_healthy_app_are_left_alone() {
    require_docker();
    let image = watchdog_image("watchdog-slow", ", \"--health-start-period\", \"30s\"");
    // Listens only after 3 s: ten failed checks, none counted.
    let c = Container::run(
        &image,
        &["--restart", "on-failure"],
        &["/app", "serve", "8080", "42", "3000"],
    );
    assert!(wait_until(T, || c.logs().contains("app: serving")));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(restart_count(&c), 0, "{}", c.logs());
    assert_eq!(c.inspect("{{.State.Running}}"), "true", "{}", c.logs());
    assert!(!c.logs().contains("unhealthy"), "{}", c.logs());
    let started = std::time::Instant::now();
    docker_ok(&["stop", "-t", "20", &c.0]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "docker stop was slow"
    );
    assert_eq!(c.wait_exit(), 42, "{}", c.logs());
}
