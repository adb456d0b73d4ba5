//! The process's file-descriptor limit (`RLIMIT_NOFILE`), which bounds
//! every configured limit that holds sockets open (the listener's
//! connections, probes waiting on I/O).
//!
//! The configuration is checked against the hard limit, because keepup
//! raises its soft limit to the hard one at start ([`raise_to_hard_limit`]);
//! the daemon says so when it cannot.

/// The hard descriptor limit of this process, or `None` when unlimited or
/// unknown (no bound to check against then).
pub fn hard_limit() -> Option<u64> {
    read()
        .map(|l| l.rlim_max)
        .filter(|&m| m != libc::RLIM_INFINITY)
}

/// The soft descriptor limit in force now (what this process may hold
/// open), or `None` when unlimited or unknown.
pub fn soft_limit() -> Option<u64> {
    read()
        .map(|l| l.rlim_cur)
        .filter(|&c| c != libc::RLIM_INFINITY)
}

/// What [`raise_to_hard_limit`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorLimit {
    /// The soft limit in force now: the number of descriptors keepup may
    /// hold open.
    pub soft: u64,
    /// The hard limit the soft one was raised towards.
    pub hard: u64,
}

impl DescriptorLimit {
    /// Whether the soft limit reached the hard one.
    pub fn at_hard_limit(&self) -> bool {
        self.soft >= self.hard
    }
}

/// Raises the soft descriptor limit to the hard limit and returns what is
/// in force afterwards. An unlimited hard limit is taken as the kernel's
/// `nr_open` ceiling (setrlimit refuses more). `None` when the limit cannot
/// even be read.
pub fn raise_to_hard_limit() -> Option<DescriptorLimit> {
    let before = read()?;
    let hard = if before.rlim_max == libc::RLIM_INFINITY {
        nr_open().unwrap_or(before.rlim_cur)
    } else {
        before.rlim_max
    };
    if before.rlim_cur < hard {
        let wanted = libc::rlimit {
            rlim_cur: hard,
            rlim_max: before.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; failure leaves the
        // limit as it was, which is read back below.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) };
    }
    let after = read()?;
    Some(DescriptorLimit {
        soft: after.rlim_cur,
        hard,
    })
}

fn read() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit)
}

/// The kernel's ceiling for any descriptor limit.
fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_reaches_the_hard_limit_and_is_never_above_it() {
        let raised = raise_to_hard_limit().expect("getrlimit works on Linux");
        assert!(raised.soft <= raised.hard, "{raised:?}");
        if let Some(hard) = hard_limit() {
            assert_eq!(raised.hard, hard);
            // An unprivileged process may always raise its soft limit up to
            // its hard limit.
            assert!(raised.at_hard_limit(), "{raised:?}");
        }
    }
}
