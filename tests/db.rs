//! Database readiness against the real servers from Debian's packages (`dist/setup` installs
//! them): each test starts a private instance in a temp dir on a free loopback port, and
//! stops it when done. PostgreSQL runs as the `postgres` user (it refuses root), MariaDB and
//! Redis as root. Plus servers that are not databases on the same ports, and a scripted MySQL
//! server for caching_sha2_password, which Debian's MariaDB does not speak.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::servers::{self, Reply};
use crate::util::*;

const T: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn health(args: &[&str]) -> Output {
    let mut cmd = ward_cmd(std::iter::once("health").chain(args.iter().copied()));
    without_env(&mut cmd, &["WARD_"]);
    output_within(cmd, T)
}

/// Exit `want`; on 1, one line that contains `says` (and never `secret`, if given).
fn expect(out: &Output, want: i32, says: &str) -> String {
    let err = stderr(out);
    assert_eq!(code(out), want, "{err}");
    if want == 1 {
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "wanted {says:?}: {err}");
    }
    err
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---- PostgreSQL -----------------------------------------------------------------------------

/// The directory of PostgreSQL's server programs (initdb, pg_ctl).
fn pg_bin() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|dirs| {
            dirs.filter_map(|d| d.ok().map(|d| d.path().join("bin")))
                .find(|b| b.join("initdb").exists())
        });
    require(
        "PostgreSQL's server (Debian package postgresql; dist/setup installs it)",
        found.is_some(),
    );
    found.unwrap_or_default()
}

/// A private cluster, owned by the `postgres` user; stopped on drop.
struct Postgres {
    dir: TempDir,
    port: u16,
}

impl Postgres {
    fn new(tag: &str) -> Postgres {
        let bin = pg_bin();
        let dir = TempDir::new(tag);
        run(Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path()));
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin.join("initdb"))
            .args([
                "-A",
                "trust",
                "--auth-host=scram-sha-256",
                "-U",
                "postgres",
                "-D",
            ])
            .arg(dir.join("data"))
            .stdout(Stdio::null()));
        Postgres {
            dir,
            port: free_port(),
        }
    }

    fn pg_ctl(&self, args: &[&str]) {
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(args)
            .stdout(Stdio::null()));
    }

    fn start(&self, extra: &str, wait: bool) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 {extra}",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.join("log");
        let log = log.to_str().unwrap();
        let mut args = vec!["-o", opts.as_str(), "-l", log, "start"];
        if wait {
            args.push("-w");
        }
        self.pg_ctl(&args);
    }

    fn url(&self, user: &str) -> String {
        format!("postgres://{user}127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_bin().join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn postgres_ready_standby_promoted_and_stopped() {
    let pg = Postgres::new("pg");
    pg.start("", true);
    let out = health(&["-v", &pg.url("")]);
    expect(&out, 0, "");
    assert!(
        stderr(&out).contains("accepting connections"),
        "{}",
        stderr(&out)
    );
    // A user that does not exist: the server is up all the same (libpq's ping says so too).
    expect(&health(&[&pg.url("nosuchuser@")]), 0, "");
    // Over TCP with password authentication: the server asks for it, which proves it is up.
    let out = health(&["-v", &pg.url("app@")]);
    expect(&out, 0, "");
    pg.pg_ctl(&["-m", "fast", "-w", "stop"]);
    expect(&health(&[&pg.url("")]), 1, "connection refused");

    // A standby that does not accept connections (hot_standby=off): 57P03, not ready, with
    // the server's own words; `ward wait` execs only after the promotion.
    std::fs::write(pg.dir.join("data/standby.signal"), "").unwrap();
    run(Command::new("chown")
        .arg("postgres")
        .arg(pg.dir.join("data/standby.signal")));
    pg.start("-c hot_standby=off", false);
    assert!(
        wait_until(Duration::from_secs(30), || {
            stderr(&health(&["-t", "2s", &pg.url("")])).contains("57P03")
        }),
        "the standby never answered 57P03"
    );
    let out = health(&[&pg.url("")]);
    expect(
        &out,
        1,
        "not ready: the database system is not accepting connections",
    );
    assert!(
        stderr(&out).contains("(SQLSTATE 57P03)"),
        "{}",
        stderr(&out)
    );

    let marker = pg.dir.join("ran");
    let mut cmd = ward_cmd(["wait", "-q", "-t", "60s", &pg.url(""), "--", "touch"]);
    cmd.arg(&marker);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let waiting = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !marker.exists(),
        "wait ran the program before the promotion"
    );
    pg.pg_ctl(&["promote", "-w"]);
    let out = wait_output(waiting, T);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(marker.exists(), "wait did not run the program");
}

// ---- Redis ----------------------------------------------------------------------------------

/// A private redis-server on a free port; shut down on drop.
struct Redis {
    dir: TempDir,
    port: u16,
    child: Child,
}

impl Redis {
    fn start(dir: TempDir, port: u16, extra: &[&str]) -> Redis {
        require(
            "redis-server (Debian package redis-server; dist/setup installs it)",
            have("redis-server"),
        );
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap();
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            wait_until(Duration::from_secs(20), || servers::can_connect(addr)),
            "redis-server did not start"
        );
        Redis { dir, port, child }
    }

    fn url(&self, auth: &str) -> String {
        format!("redis://{auth}127.0.0.1:{}", self.port)
    }

    fn stop(mut self) -> TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = TempDir::new("redis-moved");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_cli(port: u16, args: &[&str]) {
    run(Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdout(Stdio::null()));
}

#[test]
fn redis_ready_password_loading_and_stopped() {
    let r = Redis::start(TempDir::new("redis"), free_port(), &[]);
    expect(&health(&[&r.url("")]), 0, "");
    let port = r.port;
    drop(r);
    expect(
        &health(&[&format!("redis://127.0.0.1:{port}")]),
        1,
        "connection refused",
    );

    // requirepass: none, wrong and right password (in the URL, percent-encoded, and in a file).
    let pw = "p@ss w0rd";
    let r = Redis::start(
        TempDir::new("redis-pw"),
        free_port(),
        &["--requirepass", pw],
    );
    expect(&health(&[&r.url("")]), 1, "a password is required");
    let err = expect(
        &health(&[&r.url(":n0tTheR1ght@")]),
        1,
        "the password was refused",
    );
    assert!(!err.contains("n0tTheR1ght"), "{err}");
    expect(&health(&[&r.url(":p%40ss%20w0rd@")]), 0, "");
    expect(&health(&[&r.url("default:p%40ss%20w0rd@")]), 0, "");
    let file = r.dir.join("password");
    std::fs::write(&file, format!("{pw}\n")).unwrap();
    expect(
        &health(&["--password-file", file.to_str().unwrap(), &r.url("")]),
        0,
        "",
    );
    drop(r);

    // -LOADING: a dataset loaded slowly (key-load-delay) keeps the port open but not ready;
    // `ward wait` execs only when loading is done.
    let r = Redis::start(
        TempDir::new("redis-load"),
        free_port(),
        &["--enable-debug-command", "yes"],
    );
    redis_cli(r.port, &["DEBUG", "POPULATE", "100000"]);
    redis_cli(r.port, &["SAVE"]);
    let port = r.port;
    let dir = r.stop();
    let r = Redis::start(
        dir,
        port,
        &[
            "--key-load-delay",
            "20",
            "--loading-process-events-interval-bytes",
            "1024",
        ],
    );
    let out = health(&["-t", "3s", &r.url("")]);
    expect(&out, 1, "not ready: LOADING");
    let out = output_within(
        ward_cmd(["wait", "-t", "120s", &r.url(""), "--", "true"]),
        T,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    expect(&health(&[&r.url("")]), 0, "");
}

// ---- MariaDB --------------------------------------------------------------------------------

/// A private MariaDB server (run as root, as in the official images' first start); shut down
/// on drop.
struct Mariadb {
    dir: TempDir,
    port: u16,
    child: Child,
}

impl Mariadb {
    fn start() -> Mariadb {
        require(
            "MariaDB's server (Debian package mariadb-server; dist/setup installs it)",
            have("mariadbd") && have("mariadb-install-db"),
        );
        let dir = TempDir::new("mariadb");
        run(Command::new("mariadb-install-db")
            .args(["--no-defaults", "--user=root", "--skip-test-db"])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .stdout(Stdio::null()));
        let port = free_port();
        let child = Command::new("mariadbd")
            .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--port={port}"))
            .arg(format!("--log-error={}", dir.join("err.log").display()))
            .args(["--skip-name-resolve", "--max-connections=10"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let m = Mariadb { dir, port, child };
        assert!(
            wait_until(Duration::from_secs(60), || m.dir.join("sock").exists()),
            "mariadbd did not start"
        );
        m.sql("CREATE USER probe@'%' IDENTIFIED BY 'S3cret!'; CREATE USER busy@'%';");
        m
    }

    fn sql(&self, statements: &str) {
        run(Command::new("mariadb")
            .args(["--no-defaults", "-u", "root", "-S"])
            .arg(self.dir.join("sock"))
            .args(["-e", statements]));
    }

    fn url(&self, auth: &str) -> String {
        format!("mysql://{auth}127.0.0.1:{}", self.port)
    }

    /// How many connections the `busy` user holds.
    fn busy_connections(&self) -> u32 {
        let out = Command::new("mariadb")
            .args(["--no-defaults", "-u", "root", "-N", "-S"])
            .arg(self.dir.join("sock"))
            .args([
                "-e",
                "SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'busy'",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mariadb_greeting_login_full_and_stopped() {
    let m = Mariadb::start();
    let out = health(&["-v", &m.url("")]);
    expect(&out, 0, "");
    assert!(stderr(&out).contains("MariaDB"), "{}", stderr(&out));
    expect(&health(&[&m.url("probe:S3cret%21@")]), 0, "");
    let file = m.dir.join("password");
    std::fs::write(&file, "S3cret!\n").unwrap();
    let with_file = ["--password-file", file.to_str().unwrap()];
    expect(
        &health(&[with_file[0], with_file[1], &m.url("probe@")]),
        0,
        "",
    );
    let err = expect(&health(&[&m.url("probe:Wr0ngPw@")]), 1, "login refused");
    assert!(
        err.contains("error 1045") && !err.contains("Wr0ngPw"),
        "{err}"
    );
    // ward as `wait`, logging in: the URL's user in the environment list as well.
    let out = output_within(
        ward_cmd(["wait", "-q", &m.url("probe:S3cret%21@"), "--", "true"]),
        T,
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    // max_connections exhausted by logged-in clients: a login is refused with 1040, not
    // ready. (MariaDB still sends its greeting then, so the greeting-only probe says up.)
    // Sleepers are started until all ten slots hold one; root counts them between rounds only,
    // so its own connection never takes a slot a sleeper needed.
    let sleeper = || {
        Command::new("mariadb")
            .args(["--no-defaults", "-h", "127.0.0.1", "-u", "busy"])
            .arg(format!("-P{}", m.port))
            .args(["-e", "SELECT SLEEP(120)"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut sleepers: Vec<Child> = Vec::new();
    let mut busy = 0;
    for _ in 0..15 {
        for _ in busy..10 {
            sleepers.push(sleeper());
        }
        std::thread::sleep(Duration::from_secs(2));
        busy = m.busy_connections();
        if busy >= 10 {
            break;
        }
    }
    let mut last = String::new();
    let full = busy >= 10
        && wait_until(Duration::from_secs(30), || {
            last = stderr(&health(&[&m.url("probe:S3cret%21@")]));
            last.contains("Too many connections")
        });
    for s in &mut sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert!(
        full,
        "the login was never refused with too many connections ({busy} sleepers connected; \
         the probe said: {last})"
    );
    let port = m.port;
    drop(m);
    expect(
        &health(&[&format!("mysql://127.0.0.1:{port}")]),
        1,
        "connection refused",
    );
}

// ---- Not a database -------------------------------------------------------------------------

/// Python's http.server on a free port (a real HTTP server: it answers a bad request line
/// with 400 at once); killed on drop.
struct PyHttp(Child, u16);

impl PyHttp {
    fn start() -> PyHttp {
        let port = free_port();
        let child = Command::new(require_python())
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(wait_until(
            Duration::from_secs(20),
            || servers::can_connect(addr)
        ));
        PyHttp(child, port)
    }
}

impl Drop for PyHttp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_server_that_is_not_the_database_is_unhealthy_with_a_clear_line() {
    let http = PyHttp::start();
    let p = http.1;
    // An HTTP server waits for a request line that a database client never sends: the probe
    // ends at its deadline, saying what it waited for.
    for scheme in ["postgres", "mysql"] {
        let out = health(&["-t", "1s", &format!("{scheme}://127.0.0.1:{p}")]);
        expect(&out, 1, "timed out after 1s while waiting for the response");
    }
    // To Redis's PING (not an HTTP request line) this one hangs up.
    let out = health(&[&format!("redis://127.0.0.1:{p}")]);
    expect(
        &out,
        1,
        "the server closed the connection without answering",
    );

    // A server that greets with something else (SSH).
    let ssh = servers::http(
        "127.0.0.1:0",
        Reply::Greet(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()),
    );
    let s = ssh.addr.port();
    expect(
        &health(&[&format!("mysql://127.0.0.1:{s}")]),
        1,
        "not a MySQL server",
    );
    expect(
        &health(&[&format!("postgres://127.0.0.1:{s}")]),
        1,
        "not a PostgreSQL server",
    );
    expect(
        &health(&[&format!("redis://127.0.0.1:{s}")]),
        1,
        "not a Redis server",
    );

    // A server that does not know AUTH and repeats its arguments: the password is not shown.
    let echo = servers::http(
        "127.0.0.1:0",
        Reply::Greet(
            b"-ERR unknown command 'AUTH', with args beginning with: 'Pw4Redis'\r\n".to_vec(),
        ),
    );
    let url = format!("redis://:Pw4Redis@127.0.0.1:{}", echo.addr.port());
    let err = expect(&health(&[&url]), 1, "AUTH failed: ERR unknown command");
    assert!(!err.contains("Pw4Redis"), "{err}");

    // Silence: the deadline holds.
    let silent = servers::http("127.0.0.1:0", Reply::Silent);
    let q = silent.addr.port();
    for scheme in ["postgres", "redis", "mysql"] {
        let out = health(&["-t", "1s", &format!("{scheme}://127.0.0.1:{q}")]);
        expect(&out, 1, "timed out after 1s");
    }
}

/// A scripted MySQL 8 server: greets with caching_sha2_password, checks the scramble for
/// `password`, then answers fast-auth success and OK, or asks for full authentication.
fn caching_sha2_server(password: &'static str, full_auth: bool) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let nonce = b"0123456789abcdefghij";
            let mut g = vec![0x0a];
            g.extend_from_slice(b"8.0.36\0");
            g.extend_from_slice(&[7, 0, 0, 0]);
            g.extend_from_slice(&nonce[..8]);
            g.push(0);
            g.extend_from_slice(&[0xff, 0xff, 0xff, 2, 0, 0xff, 0xdf, 21]);
            g.extend_from_slice(&[0u8; 10]);
            g.extend_from_slice(&nonce[8..]);
            g.push(0);
            g.extend_from_slice(b"caching_sha2_password\0");
            let send = |c: &mut std::net::TcpStream, seq: u8, p: &[u8]| {
                let n = p.len();
                let mut out = vec![n as u8, (n >> 8) as u8, (n >> 16) as u8, seq];
                out.extend_from_slice(p);
                let _ = c.write_all(&out);
            };
            send(&mut c, 0, &g);
            let mut head = [0u8; 4];
            if c.read_exact(&mut head).is_err() {
                continue;
            }
            let len = head[0] as usize | (head[1] as usize) << 8;
            let mut hello = vec![0u8; len];
            if c.read_exact(&mut hello).is_err() {
                continue;
            }
            // user\0, then the length-prefixed scramble.
            let user_end = 32 + hello[32..].iter().position(|&b| b == 0).unwrap();
            let n = hello[user_end + 1] as usize;
            let scramble = &hello[user_end + 2..user_end + 2 + n];
            let ok = scramble == expected_sha2_scramble(password, nonce);
            if !ok {
                let mut err = vec![0xff, 0x15, 0x04];
                err.extend_from_slice(b"#28000Access denied for user");
                send(&mut c, 2, &err);
            } else if full_auth {
                send(&mut c, 2, &[0x01, 0x04]);
            } else {
                send(&mut c, 2, &[0x01, 0x03]);
                send(&mut c, 3, &[0x00, 0, 0, 2, 0, 0, 0]);
            }
        }
    });
    port
}

/// The test's own check of the scramble, with Python's hashlib as the independent SHA-256.
fn expected_sha2_scramble(password: &str, nonce: &[u8]) -> Vec<u8> {
    let py = require_python();
    let script = "import hashlib,sys\n\
        pw=sys.argv[1].encode(); n=bytes.fromhex(sys.argv[2])\n\
        h1=hashlib.sha256(pw).digest(); h2=hashlib.sha256(hashlib.sha256(h1).digest()+n).digest()\n\
        print(bytes(a^b for a,b in zip(h1,h2)).hex())";
    let hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let out = Command::new(py)
        .args(["-c", script, password, &hex])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    (0..text.trim().len() / 2)
        .map(|i| u8::from_str_radix(&text.trim()[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn mysql_caching_sha2_fast_path_and_full_auth() {
    let port = caching_sha2_server("S3cret!", false);
    let out = health(&["-v", &format!("mysql://probe:S3cret%21@127.0.0.1:{port}")]);
    expect(&out, 0, "");
    assert!(
        stderr(&out).contains("logged in (8.0.36)"),
        "{}",
        stderr(&out)
    );
    let out = health(&[&format!("mysql://probe:wrong@127.0.0.1:{port}")]);
    expect(&out, 1, "login refused");
    let port = caching_sha2_server("S3cret!", true);
    let out = health(&[&format!("mysql://probe:S3cret%21@127.0.0.1:{port}")]);
    expect(&out, 1, "full authentication, which needs TLS or RSA");
}
