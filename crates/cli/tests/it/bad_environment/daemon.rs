//! The daemon of `bad_environment` on a small disk, and what fills that disk.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::rig::{Home, Isolation, SMALL_DISK_MB};

/// What fills the activity database's disk.
pub enum Disk {
    /// A tmpfs in the daemon's namespace, reached through `/proc/<pid>/root`.
    Tmpfs { filler: PathBuf },
    /// SQLite's size cap: a second connection with the same cap fills it.
    PageCap { db: PathBuf },
}

impl Disk {
    pub fn describe(&self) -> String {
        match self {
            Self::Tmpfs { filler } => format!(
                "a {SMALL_DISK_MB} MiB tmpfs over the data folder, filled by {}",
                filler.display()
            ),
            Self::PageCap { db } => format!(
                "SQLite's size cap ({} = {SMALL_DISK_MB}) on {}, filled by a second connection",
                bridge::env::ACTIVITY_MAX_MB,
                db.display()
            ),
        }
    }

    /// Fills the disk to the last byte; returns how many bytes that took.
    pub fn fill(&self) -> u64 {
        match self {
            Self::Tmpfs { filler } => {
                let mut file = std::fs::File::create(filler).expect("create the filler");
                let chunk = [0u8; 4096];
                let mut written = 0u64;
                loop {
                    match file.write(&chunk) {
                        Ok(0) => break,
                        Ok(n) => written += n as u64,
                        Err(e) => {
                            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                            break;
                        }
                    }
                }
                written
            }
            Self::PageCap { db } => {
                let conn = self.connect(db);
                conn.execute_batch("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
                    .expect("filler table");
                let mut written = 0u64;
                loop {
                    match conn.execute("INSERT INTO filler VALUES (zeroblob(2000))", []) {
                        Ok(_) => written += 2000,
                        Err(e) => {
                            assert_eq!(
                                e.sqlite_error_code(),
                                Some(rusqlite::ErrorCode::DiskFull),
                                "{e}"
                            );
                            break;
                        }
                    }
                }
                written
            }
        }
    }

    pub fn free(&self) {
        match self {
            Self::Tmpfs { filler } => std::fs::remove_file(filler).expect("remove the filler"),
            Self::PageCap { db } => self
                .connect(db)
                .execute_batch("DROP TABLE filler")
                .expect("drop the filler"),
        }
    }

    fn connect(&self, db: &Path) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(db).expect("open the database");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        let pages = SMALL_DISK_MB * (1 << 20) / 4096;
        conn.pragma_update(None, "max_page_count", pages as i64)
            .expect("cap");
        conn
    }
}

/// The daemon (`coder-bridge demo`), its log lines as they come.
pub struct Daemon {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// `demo --port <port>` with its data folder on a small disk, already
    /// full when `full` is set.
    pub fn start_with_small_disk(
        home: &Home,
        isolation: &Isolation,
        port: u16,
        full: bool,
    ) -> (Self, Disk) {
        let data = home.data();
        std::fs::create_dir_all(&data).expect("data dir");
        let args = ["demo", "--port", &port.to_string()];
        let mut cmd = if *isolation == Isolation::Plain {
            if full {
                Disk::PageCap {
                    db: data.join(bridge::activity::FILE_NAME),
                }
                .fill();
            }
            let mut c = home.command(&args);
            c.env(bridge::env::ACTIVITY_MAX_MB, SMALL_DISK_MB.to_string());
            c
        } else {
            // dd stops at "no space left"; the daemon starts either way.
            let fill = if full {
                r#"dd if=/dev/zero of="$0/filler" bs=4k 2>/dev/null; "#
            } else {
                ""
            };
            let script = format!(
                r#"mount -t tmpfs -o size={SMALL_DISK_MB}m,mode=0700 tmpfs "$0" || exit 1; {fill}exec "$@""#
            );
            home.command_via(&isolation.prefix(&script, &data), &args)
        };
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn the daemon");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log").push(line);
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("CODER_BRIDGE_URL=") {
                    let _ = tx.send(());
                }
            }
        });
        let daemon = Self { child, log };
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            panic!(
                "the daemon did not start:\n{}",
                daemon.log_lines(|_| true).join("\n")
            );
        }
        let disk = match isolation {
            Isolation::Plain => Disk::PageCap {
                db: data.join(bridge::activity::FILE_NAME),
            },
            _ => Disk::Tmpfs {
                // The daemon's mount namespace, seen from ours.
                filler: PathBuf::from(format!("/proc/{}/root", daemon.child.id()))
                    .join(data.strip_prefix("/").expect("absolute"))
                    .join("filler"),
            },
        };
        (daemon, disk)
    }

    pub fn log_lines(&self, pick: impl Fn(&str) -> bool) -> Vec<String> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|l| pick(l))
            .cloned()
            .collect()
    }

    /// The first log line `pick` accepts, waiting up to 30 s for it.
    pub async fn wait_for_log(&self, what: &str, pick: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(line) = self.log_lines(&pick).into_iter().next() {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line for {what} after 30 s:\n{}",
                self.log_lines(|_| true).join("\n")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Resident memory, from `/proc/<pid>/status`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS")
    }

    /// User + system CPU time so far, from `/proc/<pid>/stat`.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("proc stat");
        // Fields after the command name (which may hold spaces): state is
        // the first, utime the 12th, stime the 13th.
        let rest = &stat[stat.rfind(')').expect("comm") + 1..];
        let fields: Vec<u64> = rest
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let ticks = fields[11] + fields[12];
        ticks as f64 / clock_ticks()
    }

    /// SIGTERM, then waits for a clean stop.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "the daemon stops cleanly: {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the daemon did not stop within 15 s of SIGTERM");
    }
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
