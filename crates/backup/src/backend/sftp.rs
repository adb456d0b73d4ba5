//! A repository on an SFTP server (work in progress).

use super::{BackendError, Location, TargetOptions};

/// An SFTP target.
#[derive(Debug)]
pub struct SftpBackend;

impl SftpBackend {
    /// Not yet implemented.
    pub fn new(loc: &Location, _opts: &TargetOptions) -> Result<Self, BackendError> {
        Err(BackendError::Options {
            target: loc.to_string(),
            reason: "sftp not implemented yet".into(),
        })
    }
}
