//! `package` builds the real function for provided.al2023: deterministic zip, one `bootstrap`
//! (0755), and symbol versions no newer than AL2023's glibc 2.34 (read from the binary).

use std::io::Read;
use std::process::Command;

fn package() -> serde_json::Value {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = Command::new(env!("CARGO_BIN_EXE_deployer"))
        .args(["package", "--output", "json", "--config", "config/stack.yaml"])
        .current_dir(root)
        .output()
        .expect("the deployer runs");
    assert!(
        out.status.success(),
        "package failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn package_is_deterministic_and_fits_al2023_glibc() {
    let first = package();
    let second = package();
    assert_eq!(first["sha256"], second["sha256"], "the same sources give the same zip");
    let zigbuild_installed = emulators::which("cargo-zigbuild").is_some();
    if zigbuild_installed {
        assert!(
            first["built_with"]
                .as_str()
                .unwrap()
                .contains("x86_64-unknown-linux-gnu.2.34"),
            "{first}"
        );
    }

    let path = first["path"].as_str().unwrap();
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        deployer::package::sha256_b64(&bytes),
        first["sha256"].as_str().unwrap(),
        "sha256 is of the zip, base64 like CodeSha256"
    );
    // The size budget: at most 3 MB with both stores' code in it.
    assert!(
        bytes.len() <= 3_000_000,
        "the zip grew to {} bytes (budget 3,000,000)",
        bytes.len()
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_index(0).unwrap();
    assert_eq!(entry.name().unwrap(), "bootstrap");
    assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
    let mut binary = Vec::new();
    entry.read_to_end(&mut binary).unwrap();

    // The proof: the newest GLIBC_x.y the binary requires is at most 2.34.
    let (major, minor) = deployer::package::max_glibc(std::path::Path::new("bootstrap"), &binary)
        .unwrap()
        .expect("links glibc");
    assert!((major, minor) <= (2, 34), "needs GLIBC_{major}.{minor}");
    assert_eq!(first["glibc"], format!("{major}.{minor}"));
    assert_eq!(&binary[0..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([binary[18], binary[19]]), 62, "x86-64 machine");
}
