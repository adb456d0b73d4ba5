//! Free ports for the launchers (and for tests that need an address nobody
//! listens on): asked of the kernel by binding port 0.
//!
//! A port is free when it is handed out; the server may lose it to someone
//! else before binding it, so launchers retry on a failed start.

use std::io;
use std::net::{Ipv4Addr, TcpListener};

/// A TCP port that is free on `ip` right now.
pub fn free_port(ip: Ipv4Addr) -> io::Result<u16> {
    Ok(TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// `n` distinct TCP ports that are free on `ip` right now.
pub fn free_ports(ip: Ipv4Addr, n: usize) -> io::Result<Vec<u16>> {
    // Held together so that the same port is not handed out twice.
    let listeners = (0..n)
        .map(|_| TcpListener::bind((ip, 0)))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}
