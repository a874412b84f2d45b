//! Starts the real emulators and checks they answer and are gone after being dropped.
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

#[test]
fn moto_starts_and_stops() {
    let moto = emulators::start_moto().expect("moto starts");
    let port = moto.port();
    assert!(answers(port));
    drop(moto);
    assert!(!answers(port), "moto still listens after drop");
}
