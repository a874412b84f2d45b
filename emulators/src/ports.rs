//! Free ports for servers this crate's callers start: ports no other process takes before the
//! server binds them.
//!
//! A port found free by binding it and letting it go can be taken by someone else before the
//! server the caller starts on it binds it (a JVM takes a second or more to get there). Two kinds
//! of someone else: any process binding port 0 or connecting out, which gets a port from the
//! kernel's ephemeral range, and another caller of [`free_port`]. So the port comes from below the
//! ephemeral range, and a reservation file keeps every caller, in any process, from handing it out
//! again while its server starts.

use std::collections::hash_map::RandomState;
use std::fs::OpenOptions;
use std::hash::BuildHasher as _;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, TcpListener};
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use crate::{Result, io, log_dir};

/// Where [`free_port`] looks: below the kernel's ephemeral ports on Linux (32768–60999 unless
/// `ip_local_port_range` says otherwise) and on macOS (49152–65535), above most fixed services.
const CANDIDATES: RangeInclusive<u16> = 20000..=32767;

/// How long a handed-out port stays reserved: ample time for its server to bind it.
const RESERVED_FOR: Duration = Duration::from_secs(120);

/// How many candidates [`free_port`] tries before it lets the kernel choose.
const TRIES: usize = 200;

/// A free TCP port for a server the caller starts next, on 127.0.0.1 or on every interface.
///
/// Nothing else takes it before that server binds it: it is outside the range the kernel hands
/// out for `bind` to port 0 and for outgoing connections, free on every interface when handed out,
/// and reserved for two minutes against every other caller of this function, in any process (a
/// file in the emulators' temp folder). When no such port is free it falls back to one the kernel
/// chooses.
pub fn free_port() -> Result<u16> {
    let ephemeral = ephemeral_range();
    let reservations = log_dir()?.join("ports");
    std::fs::create_dir_all(&reservations).map_err(io(format!("creating {}", reservations.display())))?;
    let random = RandomState::new();
    let span = u64::from(CANDIDATES.end() - CANDIDATES.start()) + 1;
    let candidates = (0..TRIES)
        .map(|attempt| {
            let pick = random.hash_one((std::process::id(), attempt)) % span;
            CANDIDATES.start() + u16::try_from(pick).expect("below the span")
        })
        .filter(|port| !ephemeral.as_ref().is_some_and(|range| range.contains(port)));
    if let Some(port) = first_free(candidates, &reservations) {
        return Ok(port);
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("looking for a free port"))?;
    Ok(listener.local_addr().map_err(io("looking for a free port"))?.port())
}

/// The first of `candidates` that this caller reserves in `reservations` and finds free on every
/// interface.
fn first_free(candidates: impl IntoIterator<Item = u16>, reservations: &Path) -> Option<u16> {
    candidates
        .into_iter()
        .find(|&port| reserve(reservations, port) && TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok())
}

/// Linux's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`), when it can be read.
fn ephemeral_range() -> Option<RangeInclusive<u16>> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = text.split_whitespace().map(str::parse::<u16>);
    match (bounds.next(), bounds.next()) {
        (Some(Ok(low)), Some(Ok(high))) => Some(low..=high),
        _ => None,
    }
}

/// Creates `dir/PORT` unless a reservation younger than [`RESERVED_FOR`] is there (an older one is
/// replaced); whether this caller now holds the port.
fn reserve(dir: &Path, port: u16) -> bool {
    let path = dir.join(port.to_string());
    let create = || OpenOptions::new().write(true).create_new(true).open(&path);
    match create() {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let age = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            // Of two callers replacing the same stale file, one creates it again and the other
            // finds it there.
            age.is_some_and(|age| age > RESERVED_FOR) && std::fs::remove_file(&path).is_ok() && create().is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_is_free_on_every_interface_and_outside_the_kernels_range() {
        let port = free_port().unwrap();
        assert!(CANDIDATES.contains(&port), "{port}");
        if let Some(range) = ephemeral_range() {
            assert!(!range.contains(&port), "{port} is in the ephemeral range {range:?}");
        }
        TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).unwrap();
    }

    #[test]
    fn a_handed_out_port_is_not_handed_out_again_while_reserved() {
        let ports: Vec<u16> = (0..100).map(|_| free_port().unwrap()).collect();
        let mut distinct = ports.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    }

    #[test]
    fn a_reservation_is_kept_while_fresh_and_replaced_when_stale() {
        let tmp = testkit::temp_dir();
        assert!(reserve(tmp.path(), 4242));
        assert!(!reserve(tmp.path(), 4242), "a fresh reservation is held");
        let stale = std::time::SystemTime::now() - RESERVED_FOR - Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(tmp.path().join("4242"))
            .unwrap()
            .set_modified(stale)
            .unwrap();
        assert!(reserve(tmp.path(), 4242), "a stale reservation is taken over");
        assert!(!reserve(tmp.path(), 4242));
    }

    #[test]
    fn a_port_in_use_or_reserved_is_passed_over() {
        // Three ports the kernel gave this test, then the last one let go: the only one free.
        let mut listeners: Vec<TcpListener> = (0..3)
            .map(|_| TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap())
            .collect();
        let ports: Vec<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        drop(listeners.pop());
        let tmp = testkit::temp_dir();
        assert_eq!(first_free(ports.clone(), tmp.path()), Some(ports[2]));
        // Now reserved by that call: not handed out again, even though still free.
        assert_eq!(first_free(ports, tmp.path()), None);
        drop(listeners);
    }
}
