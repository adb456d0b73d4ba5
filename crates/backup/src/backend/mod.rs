//! Repository storage: where the restic-format files of a target live.
