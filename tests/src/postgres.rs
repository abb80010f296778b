//! A private PostgreSQL cluster per test: `initdb` in a temporary directory, `pg_ctl` on a free loopback
//! port, stopped and removed on drop. As root (CI), the cluster runs as the `postgres` user, which
//! Debian's `postgresql` package creates. Nothing of the machine's own PostgreSQL service is used.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// How to get PostgreSQL when it is missing.
const INSTALL: &str = "PostgreSQL's server binaries are needed by this test and were not found in \
/usr/lib/postgresql/*/bin or by `pg_config --bindir`: install them with `apt-get install -y postgresql` \
(Debian and Ubuntu), as `.ci/test` does";

/// A running private cluster.
pub struct PgCluster {
    bin: PathBuf,
    dir: PathBuf,
    /// The listening port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
    tls: bool,
}

/// Whether PostgreSQL's server binaries are installed (for harnesses that report instead of failing).
pub fn available() -> bool {
    std::panic::catch_unwind(bin_dir).is_ok()
}

/// The directory of `initdb`, `pg_ctl` and `psql`: the newest of Debian's versioned directories, or
/// what `pg_config` says.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, p)) = versions.pop() {
        return p;
    }
    let from_config = Command::new("pg_config").arg("--bindir").output().ok().filter(|o| o.status.success());
    match from_config.map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())) {
        Some(p) if p.join("initdb").exists() => p,
        _ => panic!("{INSTALL}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl PgCluster {
    /// Creates and starts a cluster whose superuser is `ocean` (no password, loopback only).
    pub fn start() -> Self {
        Self::create(false)
    }

    /// [`PgCluster::start`], with TLS on: a certificate for `127.0.0.1` signed by a CA of its own, whose
    /// certificate is `ca.crt` in [`PgCluster::dir`].
    pub fn start_tls() -> Self {
        Self::create(true)
    }

    fn create(tls: bool) -> Self {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("ocean-pg-{:x}", rand_u64()));
        std::fs::create_dir_all(&dir).unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status();
            assert!(
                ok.is_ok_and(|s| s.success()),
                "chown of {} to postgres (the user of Debian's package)",
                dir.display()
            );
        }
        let c = Self { bin, dir, port: free_port(), as_postgres, tls };
        let data = c.data();
        let out = c.run("initdb", &["-D", &data, "-A", "trust", "-U", "ocean", "-E", "UTF8", "--no-sync"]);
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        if tls {
            c.certificates();
        }
        c.start_server();
        c
    }

    /// A CA and a server certificate for 127.0.0.1, made with `openssl` as the cluster's user.
    fn certificates(&self) {
        std::fs::write(self.dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=ocean-test-ca",
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "san.ext",
            ],
        ];
        for args in steps {
            let mut cmd = if self.as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--", "openssl"]);
                c
            } else {
                Command::new("openssl")
            };
            let out = cmd.args(args).current_dir(&self.dir).output().expect("openssl (installed with postgresql)");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        // PostgreSQL refuses a key that others may read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        cmd.args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("{}: {e}; {INSTALL}", program.display()))
    }

    /// Starts the server (again, after [`PgCluster::stop`]).
    pub fn start_server(&self) {
        let mut opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200", self.port, self.dir.display());
        if self.tls {
            let d = self.dir.display();
            opts.push_str(&format!(" -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key"));
        }
        let log = self.dir.join("server.log").display().to_string();
        let out = self.run("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"]);
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once (`-m immediate`: like a crash of the database).
    pub fn stop(&self) {
        let out = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        assert!(out.status.success(), "pg_ctl stop failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Creates a database and returns its URL.
    pub fn database(&self, name: &str) -> String {
        self.sql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// `postgres://ocean@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://ocean@127.0.0.1:{}/{database}", self.port)
    }

    /// Runs SQL with `psql` and returns its unaligned output.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let args =
            ["-h", "127.0.0.1", "-p", &port, "-U", "ocean", "-d", database, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql];
        let out = self.run("psql", &args);
        assert!(out.status.success(), "psql `{sql}`: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish()
}
