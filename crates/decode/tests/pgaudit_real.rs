//! The pgaudit decoder on what a real PostgreSQL 15 with the pgaudit extension writes: the test
//! starts a throwaway cluster (Debian's `postgresql-15` and `postgresql-15-pgaudit`), runs
//! SELECT, UPDATE, EXECUTE and COPY statements through `psql` against a customers table,
//! stops the server, and decodes both the csvlog and the stderr file it wrote.
//!
//! Without the binaries the test says so and passes, unless `SUHO_REQUIRE_PGAUDIT=1` (CI sets
//! it after installing the packages). initdb refuses to run as root: as root, the server runs
//! as the `postgres` user the package created (`runuser`), in a temporary directory given to
//! it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use suho_decode::{Decoder, PgAuditDecoder, PgAuditMapping};

const BIN: &str = "/usr/lib/postgresql/15/bin";
const PGAUDIT_SO: &str = "/usr/lib/postgresql/15/lib/pgaudit.so";

const MAPPING: &str = r#"
[log]
prefix = "%m [%p] %q%u@%d %r %c:%l app=%a "
actor = "application_name"
actor_pattern = "^crm:(?P<actor>.+)$"

[tables."public.customers"]
subject = "id"
columns = { name = "name", email = "email", phone = "phone" }

[tables.orders]
subject = "customer_id"
columns = { total = "payment", items = "order_history" }
"#;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program` run as the server's owner.
fn as_owner(program: &str, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", program]);
        c
    } else {
        Command::new(program)
    }
}

fn run(c: &mut Command) -> String {
    let out = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{c:?} failed: {text}");
    text
}

/// Stops the server however the test ends (an assertion that fails included).
struct Server {
    data: PathBuf,
    root: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already stopped when the test got that far; then this reports so and does nothing.
        let _ = as_owner(&format!("{BIN}/pg_ctl"), self.root)
            .args([
                "-D",
                &self.data.to_string_lossy(),
                "-w",
                "stop",
                "-m",
                "immediate",
            ])
            .output();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn psql(dir: &Path, port: u16, user: &str, app: &str, commands: &[&str]) {
    let mut c = Command::new("psql");
    c.args([
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        user,
        "-d",
        "postgres",
    ])
    .env("PGAPPNAME", app)
    .current_dir(dir);
    for cmd in commands {
        c.args(["-c", cmd]);
    }
    run(&mut c);
}

/// Every record the decoder makes of a log file, read unit by unit as the ingest does.
fn decode_file(d: &PgAuditDecoder, path: &Path) -> Vec<Value> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut records = Vec::new();
    for (line, unit) in d.framing().units(&bytes, 1) {
        let mut out = Vec::new();
        let decoded = d.decode(unit, &mut out).unwrap_or_else(|e| {
            panic!(
                "{}:{line}: {e}: {}",
                path.display(),
                String::from_utf8_lossy(unit)
            )
        });
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|r| !r.is_empty())
            .collect();
        assert_eq!(decoded.records, lines.len(), "what decode() says it wrote");
        for rec in lines {
            // Whatever a decoder writes must be a valid access record.
            suho_record::parse_record(rec)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(rec)));
            records.push(serde_json::from_slice::<Value>(rec).expect("json"));
        }
    }
    records
}

#[test]
fn real_pgaudit_csvlog_and_stderr_output_decode_to_the_same_access_records() {
    let have = [
        format!("{BIN}/initdb"),
        format!("{BIN}/pg_ctl"),
        PGAUDIT_SO.to_string(),
    ]
    .iter()
    .all(|p| Path::new(p).exists())
        && Command::new("psql").arg("--version").output().is_ok();
    if !have {
        assert!(
            std::env::var("SUHO_REQUIRE_PGAUDIT").as_deref() != Ok("1"),
            "SUHO_REQUIRE_PGAUDIT=1 but PostgreSQL 15 with pgaudit is not installed \
             (apt-get install postgresql-15 postgresql-15-pgaudit)"
        );
        eprintln!("skipped: PostgreSQL 15 with pgaudit is not installed");
        return;
    }
    let root = is_root();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    if root {
        run(Command::new("chown").args(["postgres:postgres", &dir.to_string_lossy()]));
    }
    let data = dir.join("data");
    run(as_owner(&format!("{BIN}/initdb"), root).args([
        "-D",
        &data.to_string_lossy(),
        "-U",
        "suho_admin",
        "--auth=trust",
        "--no-sync",
    ]));
    let port = free_port();
    let conf = format!(
        "listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{dir}'\n\
         shared_preload_libraries = 'pgaudit'\n\
         pgaudit.log = 'read,write'\n\
         pgaudit.log_rows = on\n\
         pgaudit.log_parameter = on\n\
         log_destination = 'csvlog,stderr'\n\
         logging_collector = on\n\
         log_directory = '{dir}/log'\n\
         log_filename = 'pg.log'\n\
         log_line_prefix = '%m [%p] %q%u@%d %r %c:%l app=%a '\n\
         log_timezone = 'Asia/Seoul'\n\
         fsync = off\n",
        dir = dir.display()
    );
    let conf_path = data.join("postgresql.conf");
    let mut all = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
    all.push_str(&conf);
    std::fs::write(&conf_path, all).expect("write postgresql.conf");

    let started_ms = now_ms();
    run(as_owner(&format!("{BIN}/pg_ctl"), root).args([
        "-D",
        &data.to_string_lossy(),
        "-w",
        "-l",
        &dir.join("start.log").to_string_lossy(),
        "start",
    ]));
    let server = Server {
        data: data.clone(),
        root,
    };

    psql(
        &dir,
        port,
        "suho_admin",
        "setup",
        &[
            "CREATE ROLE app_reader LOGIN",
            "CREATE TABLE customers (id int PRIMARY KEY, name text, email text, phone text)",
            "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric, items text)",
            "INSERT INTO customers (id, name, email, phone) VALUES (1,'a','a@x','1'),(2,'b','b@x','2'),(3,'c','c@x','3'),(123,'d','d@x','4')",
            "INSERT INTO orders VALUES (10, 7, 9.5, 'x'), (11, 7, 1, 'y')",
            "GRANT SELECT, UPDATE ON customers TO app_reader",
            "GRANT SELECT ON orders TO app_reader",
        ],
    );
    psql(
        &dir,
        port,
        "app_reader",
        "crm:emp-0042",
        &[
            "SELECT name, email FROM customers WHERE id = 123",
            "select * from customers c where c.id in (1,2,3)",
            "UPDATE customers SET phone = '555'\nWHERE id = 2",
            "SELECT email FROM customers WHERE name <> 'zzz'",
            "PREPARE q(int) AS SELECT name FROM customers WHERE id = $1",
            "EXECUTE q(3)",
            "\\copy (select id, email from customers where id = 1) to '/dev/null'",
            "COPY customers TO STDOUT",
            "select total from orders where customer_id = 7",
            "select 1",
        ],
    );
    // Stop (fast: the logger flushes), then read what it wrote.
    run(as_owner(&format!("{BIN}/pg_ctl"), root).args([
        "-D",
        &data.to_string_lossy(),
        "-w",
        "stop",
        "-m",
        "fast",
    ]));
    drop(server);
    let done_ms = now_ms();

    let d = PgAuditDecoder::new(PgAuditMapping::parse(MAPPING).expect("mapping"));
    let csv = decode_file(&d, &dir.join("log/pg.csv"));
    let stderr = decode_file(&d, &dir.join("log/pg.log"));

    // Both forms say the same: the same records, but for where they came from.
    let strip = |r: &Value| {
        let mut r = r.clone();
        let attrs = r["attrs"].as_object_mut().expect("attrs");
        for k in ["source_sha256", "log", "session_line"] {
            attrs.remove(k);
        }
        let id = r["id"]
            .as_str()
            .expect("an id from %c:%l")
            .replacen(":stderr:", ":csvlog:", 1);
        r["id"] = Value::from(id);
        r
    };
    assert_eq!(csv.len(), stderr.len(), "csv {csv:#?}\nstderr {stderr:#?}");
    for (c, s) in csv.iter().zip(&stderr) {
        assert_eq!(strip(c), strip(s));
        assert_eq!(c["attrs"]["log"], "csvlog");
        assert_eq!(s["attrs"]["log"], "stderr");
    }

    let app: Vec<&Value> = csv
        .iter()
        .filter(|r| r["attrs"]["application_name"] == "crm:emp-0042")
        .collect();
    for r in &app {
        // The application user, not the database role; the client's address from the log.
        assert_eq!(r["actor"], "emp-0042", "{r}");
        assert_eq!(r["attrs"]["db_user"], "app_reader");
        assert_eq!(r["src_ip"], "127.0.0.1");
        let t = r["time"].as_i64().expect("time");
        assert!(
            (started_ms - 60_000..=done_ms + 60_000).contains(&t),
            "time {t} is not when the test ran ({started_ms}..{done_ms}): the zone was misread"
        );
        assert!(r["id"].as_str().is_some_and(|i| i.starts_with("pgaudit:")));
    }
    let with = |action: &str, subjects: Value| -> Vec<&Value> {
        app.iter()
            .copied()
            .filter(|r| r["action"] == action && r["subjects"] == subjects)
            .collect()
    };
    // SELECT name, email ... WHERE id = 123
    let r = with("read", serde_json::json!(["123"]));
    assert_eq!(r.len(), 1, "{app:#?}");
    assert_eq!(r[0]["resource"], "public.customers");
    assert_eq!(r[0]["fields"], serde_json::json!(["email", "name"]));
    assert_eq!(r[0]["attrs"]["rows"], 1);
    assert_eq!(r[0]["attrs"]["class"], "READ");
    // select * ... c.id in (1,2,3): every category of the table.
    let r = with("read", serde_json::json!(["1", "2", "3"]));
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0]["fields"],
        serde_json::json!(["email", "name", "phone"])
    );
    assert_eq!(r[0]["attrs"]["rows"], 3);
    // The multi-line UPDATE.
    let r = with("update", serde_json::json!(["2"]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["fields"], serde_json::json!(["phone"]));
    assert_eq!(r[0]["attrs"]["class"], "WRITE");
    // No literal key: the row count pgAudit logged.
    let r: Vec<&&Value> = app
        .iter()
        .filter(|r| r["subject_count"] == 4 && r.get("subjects").is_none())
        .collect();
    assert_eq!(r.len(), 1, "{app:#?}");
    assert_eq!(r[0]["fields"], serde_json::json!(["email"]));
    // EXECUTE: the key is the parameter pgAudit logged.
    let r = with("read", serde_json::json!(["3"]));
    assert_eq!(r.len(), 1, "{app:#?}");
    assert_eq!(r[0]["attrs"]["command"], "SELECT");
    // \copy (query) TO: pgAudit logs the query's SELECT and the COPY; both are exports of
    // customer 1.
    assert_eq!(with("read", serde_json::json!(["1"])).len(), 0, "{app:#?}");
    assert_eq!(
        with("export", serde_json::json!(["1"])).len(),
        2,
        "{app:#?}"
    );
    // COPY customers TO STDOUT: the whole table exported; pgAudit's row count (0) is not used.
    let r: Vec<&&Value> = app
        .iter()
        .filter(|r| r["action"] == "export" && r.get("subjects").is_none())
        .collect();
    assert_eq!(r.len(), 1, "{app:#?}");
    assert_eq!(r[0]["resource"], "public.customers");
    assert!(r[0].get("subject_count").is_none());
    assert_eq!(
        r[0]["fields"],
        serde_json::json!(["email", "name", "phone"])
    );
    // orders: subjects by customer_id.
    let r = with("read", serde_json::json!(["7"]));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["resource"], "public.orders");
    assert_eq!(r[0]["fields"], serde_json::json!(["payment"]));
    // PREPARE (no rows) and select 1 (no table): stored, unmapped.
    let unmapped: Vec<&&Value> = app
        .iter()
        .filter(|r| r["attrs"]["unmapped"] == true)
        .collect();
    assert_eq!(unmapped.len(), 2, "{app:#?}");
    assert!(unmapped.iter().all(|r| r.get("subjects").is_none()));

    // The administrator's INSERT with a column list names the new customers.
    let admin: Vec<&Value> = csv.iter().filter(|r| r["actor"] == "suho_admin").collect();
    assert!(
        admin.iter().any(|r| r["action"] == "create"
            && r["subjects"] == serde_json::json!(["1", "123", "2", "3"])),
        "{admin:#?}"
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
