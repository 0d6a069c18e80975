//! The end-to-end harness: the real logger and the parent fixture in one `wrangler dev` session
//! (workerd with local D1, KV and Durable Objects), a typed client, and D1 read back.
//!
//! Each [`Logger`] gets a free port, its own temporary `--persist-to` directory (copied from a
//! template with the D1 migrations already applied, made once per test run) and its own
//! generated logger config, because `wrangler dev --var` reaches only the first worker of a
//! multi-worker session. The worker must be built first (`scripts/build`; `scripts/test` does it).
//! Rows are read from the D1 database file workerd writes (SQLite in WAL mode, read-only here).
//! Dropping a `Logger` stops the whole process group (node and its workerd grandchild).
#![allow(dead_code)]

use serde_json::{json, Map, Value};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const ADMIN_KEY: &str = "e2e-admin-key-0123456789";
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How wrangler's dev proxy (its `ProxyWorker`) answers a request it could not finish because
/// the workers were reloaded meanwhile.
const DEV_PROXY_RELOADED: &str = "Your worker restarted mid-request.";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wrangler() -> PathBuf {
    root().join("node_modules/.bin/wrangler")
}

/// A name unique to this test run, for app ids and markers.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The clock in milliseconds since the epoch, as the logger stamps entries.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A port for a session to listen on. Ports bound and released at port 0 raced: the kernel
/// hands the same ephemeral range to every socket bound to port 0 (workerd's and node's internal
/// ones, another test's), so one could be taken between the release and wrangler's bind, and the
/// health probe then reached another test's logger (its entries landed there, not here). These
/// come from below Linux's ephemeral range (32768 up) instead, each at most once per process,
/// from an offset derived from the process id so that two runs at once rarely meet; a port found
/// taken is skipped.
fn free_port() -> u16 {
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id().wrapping_mul(7_919) % SPAN;
    loop {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (LOW + (base + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `YYYY-MM-DD` (UTC) of `ms` since the epoch, without a date crate: civil-from-days
/// (H. Hinnant).
pub fn utc_date(ms: i64) -> String {
    let z = ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// How long a test waits for accepted entries to reach D1.
pub const LAND: Duration = Duration::from_secs(30);

/// Options whose alarm flushes 300 ms after the first entry, so tests that wait for rows
/// do not wait long.
pub fn fast() -> Options {
    Options::default().var("BATCH_INTERVAL_MS", 300)
}

/// One process's resident memory (`/proc/PID/status`), in bytes.
#[derive(Debug, Clone)]
pub struct ProcMemory {
    pub name: String,
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Logger vars that override wrangler.toml's `[vars]`.
    pub vars: Vec<(String, String)>,
    /// The checkout whose worker runs (default: this one); another is built already (the
    /// benchmark's baseline).
    pub root: Option<PathBuf>,
    /// A persist directory to start from instead of a fresh migrated one.
    pub state: Option<PathBuf>,
    /// More workers in the session (`wrangler dev -c` each, after the logger).
    pub workers: Vec<PathBuf>,
    /// Leave out the dashboard's `[assets]` (see [`Options::without_assets`]).
    pub no_assets: bool,
}

impl Options {
    pub fn var(mut self, name: impl ToString, value: impl ToString) -> Self {
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    #[allow(dead_code)]
    pub fn root(mut self, root: &Path) -> Self {
        self.root = Some(root.to_path_buf());
        self
    }

    /// Another worker in the session, by its config under `tests/fixtures/`.
    #[allow(dead_code)]
    pub fn worker(mut self, config: &str) -> Self {
        self.workers
            .push(root().join("tests/fixtures").join(config));
        self
    }

    /// The logger without its dashboard files. Locally, a worker with `[assets]` answers a
    /// service binding's `scheduled()` with an exception (miniflare puts the assets proxy in
    /// front of the default entrypoint, and it has no scheduled handler: workers-sdk#9882), so
    /// a session that runs the cron through the parent fixture's binding starts without them.
    /// Deployed, a cron trigger calls the worker itself.
    #[allow(dead_code)]
    pub fn without_assets(mut self) -> Self {
        self.no_assets = true;
        self
    }

    #[allow(dead_code)]
    pub fn state(mut self, state: PathBuf) -> Self {
        self.state = Some(state);
        self
    }
}

fn fixture_of(dir: &Path, opts: &Options) -> PathBuf {
    let root = opts.root.clone().unwrap_or_else(root);
    session_copy(dir, &root.join("tests/fixtures/parent.toml"))
}

/// The session's copies of the other workers' configs (`session_copy`).
fn session_copies(dir: &Path, opts: &Options) -> Vec<PathBuf> {
    opts.workers.iter().map(|w| session_copy(dir, w)).collect()
}

/// The fixture config at `path` written into the session's `dir` (not the logger config's: its
/// `.dev.vars` is the logger's) with its `main` made absolute.
/// wrangler keeps a worker's bundle and middleware in `.wrangler/tmp` beside its config and its
/// bundler watches what it read while bundling; with a copy per session, no session's files sit
/// beside another's (sessions run two at a time, started and stopped all through a run).
fn session_copy(dir: &Path, path: &Path) -> PathBuf {
    let text = std::fs::read_to_string(path).unwrap();
    let mut cfg: toml::Table = toml::from_str(&text).unwrap();
    let main = path.parent().unwrap().join(cfg["main"].as_str().unwrap());
    let main = main.canonicalize().unwrap();
    cfg.insert("main".into(), main.display().to_string().into());
    std::fs::create_dir_all(dir).unwrap();
    let copy = dir.join(path.file_name().unwrap());
    std::fs::write(&copy, toml::to_string(&cfg).unwrap()).unwrap();
    copy
}

/// The logger's wrangler config with paths made absolute, the build step removed (the harness
/// builds once) and `vars` applied.
fn logger_config(dir: &Path, opts: &Options) -> PathBuf {
    let root = opts.root.clone().unwrap_or_else(root);
    let text = std::fs::read_to_string(root.join("wrangler.toml")).unwrap();
    let mut cfg: toml::Table = toml::from_str(&text).unwrap();
    cfg.remove("build");
    cfg.insert(
        "main".into(),
        root.join("src/worker.mjs").display().to_string().into(),
    );
    for db in cfg["d1_databases"].as_array_mut().unwrap() {
        db.as_table_mut().unwrap().insert(
            "migrations_dir".into(),
            root.join("migrations").display().to_string().into(),
        );
    }
    if opts.no_assets {
        cfg.remove("assets");
    }
    if let Some(assets) = cfg.get_mut("assets").and_then(|a| a.as_table_mut()) {
        let dir = root.join(assets["directory"].as_str().unwrap());
        assets.insert("directory".into(), dir.display().to_string().into());
    }
    let vars = cfg
        .entry("vars")
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
        .unwrap();
    for (k, v) in &opts.vars {
        vars.insert(k.to_string(), v.clone().into());
    }
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, toml::to_string(&cfg).unwrap()).unwrap();
    std::fs::write(
        dir.join(".dev.vars"),
        format!("ADMIN_API_KEY=\"{ADMIN_KEY}\"\n"),
    )
    .unwrap();
    path
}

fn wrangler_cmd() -> Command {
    let mut c = Command::new(wrangler());
    c.current_dir(root())
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1")
        .env("FORCE_COLOR", "0");
    c
}

/// A persist directory with the D1 migrations of the checkout at `root` applied, made once per
/// run and checkout: a baseline's worker (the benchmark's) starts on its own layout.
fn template_state(root: &Path) -> PathBuf {
    static TEMPLATES: Mutex<Vec<(PathBuf, tempfile::TempDir, PathBuf)>> = Mutex::new(Vec::new());
    let mut made = TEMPLATES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, _, state)) = made.iter().find(|(r, ..)| r == root) {
        return state.clone();
    }
    let dir = tempfile::tempdir().unwrap();
    let state = migrated_state(root, dir.path());
    made.push((root.to_path_buf(), dir, state.clone()));
    state
}

/// A persist directory under `dir` with the D1 migrations of the checkout at `root` applied.
pub fn migrated_state(root: &Path, dir: &Path) -> PathBuf {
    {
        assert!(
            root.join("build/index.js").exists(),
            "the worker is not built: run scripts/build (scripts/test does it for you)"
        );
        let opts = Options::default().root(root);
        let config = logger_config(&dir.join("config"), &opts);
        let state = dir.join("state");
        let out = wrangler_cmd()
            .args([
                "d1",
                "migrations",
                "apply",
                "d1-logger",
                "--local",
                "--persist-to",
            ])
            .arg(&state)
            .arg("-c")
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "migrations failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        state
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// An HTTP response, body parsed as JSON when it is JSON.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub text: String,
    pub request_id: Option<String>,
    pub retry_after: Option<String>,
    /// Every header, names in lower case.
    pub headers: Vec<(String, String)>,
}

impl Resp {
    /// A header's value, by its name in lower case.
    #[allow(dead_code)]
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// The stable error code of an error response.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<none>")
    }
}

pub struct Logger {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    pub state: PathBuf,
    config: PathBuf,
    log: PathBuf,
    agent: ureq::Agent,
    workers: Vec<PathBuf>,
    /// The parent fixture's config, of the same checkout as the logger (an older logger lacks
    /// what a newer fixture binds).
    fixture: PathBuf,
    /// How long the first `GET /health` the session answered took: the logger's first request
    /// in a fresh isolate (the benchmark's cold start).
    pub first_health: Duration,
}

impl Logger {
    pub fn start() -> Logger {
        Logger::start_with(Options::default())
    }

    /// A logger with `opts` and one app made for the test (its id unique to this run, from
    /// `prefix`): the logger, the app id and its API key.
    pub fn with_app(opts: Options, prefix: &str) -> (Logger, String, String) {
        let logger = Logger::start_with(opts);
        let app = unique(prefix);
        let key = logger.create_app(&app);
        (logger, app, key)
    }

    pub fn start_with(opts: Options) -> Logger {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let template = match (&opts.state, &opts.root) {
            (Some(given), _) => given.clone(),
            (None, r) => template_state(r.as_deref().unwrap_or(&root())),
        };
        copy_dir(&template, &state);
        let config = logger_config(&dir.path().join("config"), &opts);
        let fixtures = dir.path().join("fixtures");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            // ureq keeps 3 idle connections per host by default: with more client threads than
            // that (the benchmark runs 16), most requests would open a new connection.
            .max_idle_connections(64)
            .max_idle_connections_per_host(64)
            .build()
            .into();
        let mut logger = Logger {
            child: None,
            port: 0,
            log: dir.path().join("wrangler.log"),
            dir,
            state,
            config,
            agent,
            workers: session_copies(&fixtures, &opts),
            fixture: fixture_of(&fixtures, &opts),
            first_health: Duration::ZERO,
        };
        logger.spawn();
        logger
    }

    /// Starts `wrangler dev` and waits until it answers. Another process can still hold a port
    /// [`free_port`] gave (one that binds it by number); when the runtime then fails to start,
    /// it is started again on fresh ports (at most `START_ATTEMPTS` times).
    fn spawn(&mut self) {
        const START_ATTEMPTS: u32 = 3;
        for attempt in 1..=START_ATTEMPTS {
            if self.try_spawn() {
                return;
            }
            self.stop("KILL");
            assert!(
                attempt < START_ATTEMPTS,
                "wrangler dev did not start in {START_ATTEMPTS} attempts:\n{}",
                self.log_text()
            );
        }
    }

    /// One start: `true` once the session answers, `false` if the runtime failed to start.
    fn try_spawn(&mut self) -> bool {
        self.port = free_port();
        let log_start = self.log_text().len();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = wrangler_cmd()
            .arg("dev")
            .arg("-c")
            .arg(&self.fixture)
            .arg("-c")
            .arg(&self.config)
            .args(
                self.workers
                    .iter()
                    .flat_map(|w| [std::ffi::OsStr::new("-c"), w.as_os_str()]),
            )
            .args(["--ip", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(&self.state)
            .args(["--log-level", "warn"])
            // wrangler's machine-wide registry of dev workers is keyed by worker name: sessions
            // that share it (this one and another test's, or a developer's `scripts/dev`) would
            // reach each other's workers through their service bindings.
            .env("WRANGLER_REGISTRY_PATH", self.dir.path().join("registry"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own process group, so stopping it also stops workerd (a grandchild).
            .process_group(0)
            .spawn()
            .expect("wrangler dev did not start");
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let asked = Instant::now();
            if let Ok(r) = self.try_get("/_logger/health") {
                // A logger with an invalid configuration is up, and says so on every request.
                if r.status == 200 || r.code() == "CONFIG_INVALID" {
                    self.first_health = asked.elapsed();
                    return true;
                }
            }
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            let log = self.log_text();
            if exited || log[log_start.min(log.len())..].contains("runtime failed to start") {
                return false;
            }
            if Instant::now() > deadline {
                panic!(
                    "wrangler dev was not ready within {READY_TIMEOUT:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the session with `signal` (e.g. "KILL" for a crash) and waits until it is gone.
    pub fn stop(&mut self, signal: &str) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            // workerd may outlive node for a moment; wait until the port is free.
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpListener::bind(("127.0.0.1", self.port)).is_err() && Instant::now() < deadline
            {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Runs `sql` on the local D1 database while the session is stopped (the state as a
    /// database left by an earlier release, say): D1's file is written only when no workerd
    /// holds it.
    pub fn write_d1_stopped(&self, sql: &str) {
        assert!(self.child.is_none(), "stop the session first");
        let conn = rusqlite::Connection::open(d1_file(&self.state)).unwrap();
        conn.execute_batch(sql).unwrap();
    }

    /// Starts the session again on the same persisted state.
    pub fn restart(&mut self) {
        self.stop("TERM");
        self.spawn();
    }

    /// Starts the session again on the same persisted state with other logger vars (a new
    /// deployment of a changed configuration).
    pub fn restart_with(&mut self, opts: Options) {
        self.stop("TERM");
        let dir = self.config.parent().unwrap().to_path_buf();
        self.config = logger_config(&dir, &opts);
        let fixtures = self.dir.path().join("fixtures");
        self.workers = session_copies(&fixtures, &opts);
        self.fixture = fixture_of(&fixtures, &opts);
        self.spawn();
    }

    /// Runs the logger's cron handler (the hourly retention run) and waits until it finished.
    pub fn cron(&self) {
        let r = self.parent("GET", "/_logger_cron", &[], None);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body["outcome"], "ok", "{r:?}\n{}", self.log_text());
    }

    /// Polls `probe` until it returns `Some`, or fails after `timeout` with `what` and the
    /// last value seen.
    pub fn wait_until<T: std::fmt::Debug>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            match probe() {
                Ok(v) => return v,
                Err(seen) if Instant::now() > deadline => panic!(
                    "{what}: not within {timeout:?}; last seen: {seen}\n{}",
                    self.log_text()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Polls until `table` holds exactly `n` rows of `app_id`, and returns them oldest first.
    pub fn wait_for_table(
        &self,
        table: &str,
        app_id: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Map<String, Value>> {
        self.wait_until(&format!("{n} rows of {app_id} in {table}"), timeout, || {
            let rows = self.table_rows(table, app_id);
            if rows.len() == n {
                Ok(rows)
            } else {
                Err(format!("{} rows: {rows:#?}", rows.len()))
            }
        })
    }

    /// The rows of `app_id` in `table` (a name from the test itself), oldest first; the
    /// firehose's as [`Logger::app_rows`] reads them.
    pub fn table_rows(&self, table: &str, app_id: &str) -> Vec<Map<String, Value>> {
        if table == "logs" {
            return self.app_rows(app_id);
        }
        if self
            .query(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                &[&table],
            )
            .is_empty()
        {
            return Vec::new();
        }
        self.query(
            &format!("SELECT * FROM \"{table}\" WHERE app_id = ?1 ORDER BY timestamp, id"),
            &[&app_id],
        )
    }

    /// Resident memory (VmRSS) of the whole session: node and workerd, every process in its group.
    pub fn rss_bytes(&self) -> u64 {
        self.memory().iter().map(|p| p.rss).sum()
    }

    /// Resident memory of each process of the session (node, workerd), in bytes.
    pub fn memory(&self) -> Vec<ProcMemory> {
        let Some(group) = self.child.as_ref().map(|c| c.id()) else {
            return Vec::new();
        };
        let mut procs = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // Fields after the command name (which may hold spaces): state ppid pgrp ...
            let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
                continue;
            };
            if rest.split(' ').nth(2).and_then(|g| g.parse::<u32>().ok()) != Some(group) {
                continue;
            }
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
                    .map_or(0, |kb| kb * 1024)
            };
            let name = status
                .lines()
                .find_map(|l| l.strip_prefix("Name:"))
                .unwrap_or("?")
                .trim()
                .to_string();
            procs.push(ProcMemory {
                name,
                rss: field("VmRSS:"),
                anon: field("RssAnon:"),
                file: field("RssFile:"),
            });
        }
        procs.sort_by_key(|p| std::cmp::Reverse(p.rss));
        procs
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn try_get(&self, path: &str) -> Result<Resp, ureq::Error> {
        let mut r = self.agent.get(format!("{}{path}", self.base())).call()?;
        Ok(to_resp(&mut r))
    }

    /// A stand-in with no session, to hold a place while the real one is moved (the benchmark's
    /// crash runs share it between threads).
    pub fn placeholder() -> Logger {
        let dir = tempfile::tempdir().unwrap();
        Logger {
            child: None,
            port: 0,
            state: dir.path().join("state"),
            config: dir.path().join("config"),
            log: dir.path().join("wrangler.log"),
            dir,
            agent: ureq::Agent::config_builder().build().into(),
            workers: Vec::new(),
            fixture: PathBuf::new(),
            first_health: Duration::ZERO,
        }
    }

    /// Like `call`, but `None` instead of a panic when the session does not answer (it is being
    /// restarted), and only the status.
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Option<u16> {
        let uri = format!("{}/_logger{path}", self.base());
        self.send(method, &uri, headers, body)
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// One request to `uri` on this session's agent.
    fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let mut builder = ureq::http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        self.agent.run(builder.body(body.to_vec())?)
    }

    /// A request to the logger's own API (reached through the parent fixture's `/_logger/`).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        self.parent(method, &format!("/_logger{path}"), headers, body)
    }

    /// A request to the parent fixture itself (logged over the service binding when it carries
    /// `X-Fixture-Log-Key`).
    ///
    /// wrangler's dev proxy answers a request that was in flight when it reloaded the workers
    /// (workerd started again) with a 503 of its own, not the logger's, and asks for it to be
    /// sent again: that request is sent once more, when the session answers again.
    pub fn parent(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        let uri = format!("{}{path}", self.base());
        let once = || match self.send(method, &uri, headers, body.unwrap_or_default()) {
            Ok(mut r) => to_resp(&mut r),
            Err(e) => panic!("{method} {uri} failed: {e}\n{}", self.log_text()),
        };
        let r = once();
        if r.status != 503 || !r.text.starts_with(DEV_PROXY_RELOADED) {
            return r;
        }
        eprintln!("{method} {path}: wrangler dev reloaded mid-request; sending it again");
        // The proxy holds a GET until the reload is complete.
        let _ = self.try_get("/_logger/health");
        once()
    }

    /// A call the parent fixture makes on one of its logger bindings (`/_rpc`, `/_service`):
    /// the call's result, or the error's message (which starts with the logger's code).
    pub fn fixture_call(&self, path: &str, call: &Value) -> Result<Value, String> {
        let r = self.parent("POST", path, &[], Some(call.to_string().as_bytes()));
        match r.body["ok"].as_bool() {
            Some(true) => Ok(r.body["data"].clone()),
            _ => Err(r.body["error"].as_str().unwrap_or(&r.text).to_string()),
        }
    }

    pub fn create_app(&self, app_id: &str) -> String {
        let r = self.call(
            "POST",
            "/apps",
            &[("x-admin-key", ADMIN_KEY)],
            Some(
                json!({ "app_id": app_id, "name": app_id })
                    .to_string()
                    .as_bytes(),
            ),
        );
        assert_eq!(r.status, 201, "{r:?}");
        r.body["data"]["api_key"].as_str().unwrap().to_string()
    }

    pub fn post_logs(&self, key: &str, body: &Value) -> Resp {
        self.call(
            "POST",
            "/logs",
            &[("x-api-key", key), ("content-type", "application/json")],
            Some(body.to_string().as_bytes()),
        )
    }

    /// Rows of a query against the local D1 database, as JSON objects.
    pub fn query(&self, sql: &str, params: &[&dyn rusqlite::ToSql]) -> Vec<Map<String, Value>> {
        let conn = rusqlite::Connection::open_with_flags(
            d1_file(&self.state),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt
            .query_map(params, |row| {
                let mut m = Map::new();
                // The columns as the statement has them now: SQLite prepares it again when the
                // logger changes the schema meanwhile (a table rebuilt in place), and `*` may
                // then name other columns than when it was first prepared.
                let s = row.as_ref();
                for i in 0..s.column_count() {
                    let name = s.column_name(i)?.to_string();
                    let v = match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(n) => json!(n),
                        rusqlite::types::ValueRef::Real(f) => json!(f),
                        rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                        rusqlite::types::ValueRef::Blob(b) => json!(b),
                    };
                    m.insert(name, v);
                }
                Ok(m)
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    }

    /// Entries of this app in the firehose, oldest first, read from D1 as the API reads them
    /// (`request.cf` facts from their set, what the URL says given back, headers and data as
    /// JSON).
    pub fn app_rows(&self, app_id: &str) -> Vec<Map<String, Value>> {
        use d1_logger::read::query::{present, with_cf_facts};
        let tables = "SELECT name FROM sqlite_schema WHERE name IN ('logs', 'logs_cf')";
        if self.query(tables, &[]).len() < 2 {
            return Vec::new(); // Before the first flush.
        }
        let sql = with_cf_facts("logs", "SELECT * FROM logs WHERE app_id = ?1");
        self.query(&format!("{sql} ORDER BY l.timestamp, l.id"), &[&app_id])
            .into_iter()
            .filter_map(|m| match present(Value::Object(m)) {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// Polls until `app_id` has at least `n` rows, or fails with what was seen.
    pub fn wait_for_rows(
        &self,
        app_id: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<Map<String, Value>> {
        self.wait_until(&format!("{n} rows of {app_id}"), timeout, || {
            let rows = self.app_rows(app_id);
            if rows.len() >= n {
                Ok(rows)
            } else {
                Err(format!("{} rows: {rows:#?}", rows.len()))
            }
        })
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        self.stop("TERM");
    }
}

fn to_resp(r: &mut ureq::http::Response<ureq::Body>) -> Resp {
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let request_id = header("x-request-id");
    let retry_after = header("retry-after");
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    // Lossy: an OTLP refusal to a protobuf request is a binary `Status`.
    let mut bytes = Vec::new();
    let _ = r.body_mut().as_reader().read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        body,
        text,
        request_id,
        retry_after,
        headers,
    }
}

/// The SQLite file behind the local D1 database (the only one in the persist directory).
pub fn d1_file(state: &Path) -> PathBuf {
    let dir = state.join("v3/d1/miniflare-D1DatabaseObject");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "sqlite")
                && p.file_name().is_some_and(|n| n != "metadata.sqlite")
        })
        .expect("no D1 database file")
}
